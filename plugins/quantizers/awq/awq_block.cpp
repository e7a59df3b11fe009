// AWQ on one decoder layer: see awq_block.hpp.
#include "awq_block.hpp"

#include <qrun/calibration.hpp>
#include <qrun/dtype.hpp>

#include <ATen/ATen.h>

#include <functional>
#include <limits>
#include <set>

namespace qrun::awq {

namespace {

at::Tensor other_tensor(Model& m, const std::string& name) {
  for (auto& [n, t] : m.other_tensors())
    if (n == name) return t;
  return {};
}

// Inputs and outputs of observed layers, in window order, as float32 [tokens, features].
struct Rows {
  std::vector<at::Tensor> parts;
  void add(const at::Tensor& t) { parts.push_back(t.reshape({-1, t.size(-1)}).to(at::kFloat)); }
  at::Tensor cat() const { return at::cat(parts, 0); }
};

struct Layers {  // the block's current weights (float32) and biases, by name
  Model& model;
  c10::ScalarType storage, compute;
  std::map<std::string, at::Tensor> w, b;
  std::set<std::string> changed;
  const at::Tensor& weight(const std::string& n) {
    if (!w.count(n)) {
      w[n] = model.linear(n).weight(storage).to(at::kFloat);
      at::Tensor bias = model.linear(n).bias();
      b[n] = bias.defined() ? bias.to(at::kFloat) : bias;
    }
    return w[n];
  }
  std::shared_ptr<LinearImpl> dense(const std::string& n, const at::Tensor& weight) {
    return make_dense_linear(weight.to(storage), b[n].defined() ? b[n].to(storage) : b[n], compute);
  }
};

// The mean squared difference between `reference` rows and the outputs of `inspect` when the
// layers `names` compute with `cands` (the rest of the model as it is): a forward per batch,
// stopped after `inspect`.
Result<double> forward_loss(Model& model, Layers& L, const std::vector<std::string>& names,
                            const std::vector<at::Tensor>& cands, const std::string& inspect, const at::Tensor& reference,
                            const at::Tensor& windows, std::int64_t batch_size) {
  std::vector<std::shared_ptr<LinearImpl>> originals;
  for (std::size_t i = 0; i < names.size(); ++i) {
    originals.push_back(model.linear(names[i]).clone_to(model.device()));
    QRUN_TRY(model.set_linear(names[i], L.dense(names[i], cands[i])));
  }
  double sum = 0;
  std::int64_t offset = 0;
  auto sink = [&](const at::Tensor&, const at::Tensor& y) {
    const at::Tensor y2 = y.reshape({-1, y.size(-1)}).to(at::kFloat);
    sum += (reference.slice(0, offset, offset + y2.size(0)) - y2).square().sum().item<double>();
    offset += y2.size(0);
  };
  auto r = calibration::run(model, windows, {{inspect, sink}}, {batch_size, true});
  for (std::size_t i = 0; i < names.size(); ++i) QRUN_TRY(model.set_linear(names[i], originals[i]));
  QRUN_TRY(r);
  return sum / static_cast<double>(reference.numel());
}

double direct_loss(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& cand) {
  const at::Tensor org = at::linear(x, w, b), out = at::linear(x, cand, b);
  return (org - out).square().mean().item<double>();
}

}  // namespace

Result<std::vector<Block>> find_blocks(Model& model) {
  std::map<std::int64_t, Block> by;
  for (const auto& n : model.linear_names()) {
    const std::int64_t i = calibration::decoder_layer_of(n);
    if (i < 0) continue;
    Block& b = by[i];
    b.index = i;
    const std::string leaf = n.substr(n.rfind('.') + 1);
    std::string* slot = leaf == "q_proj" ? &b.q : leaf == "k_proj" ? &b.k : leaf == "v_proj" ? &b.v : leaf == "o_proj" ? &b.o
                      : leaf == "gate_proj" ? &b.gate : leaf == "up_proj" ? &b.up : leaf == "down_proj" ? &b.down : nullptr;
    if (slot == nullptr)
      return Error::of(ErrorCode::unsupported, n, "is not a Llama-style projection (q/k/v/o_proj, gate/up/down_proj)",
                       "AWQ's scale search knows Llama-style decoder layers only; use rtn, gptq or hqq for this model");
    *slot = n;
  }
  std::set<std::string> others;
  for (const auto& [n, t] : model.other_tensors()) others.insert(n);
  std::vector<Block> out;
  for (auto& [i, b] : by) {
    const std::string prefix = b.q.substr(0, b.q.rfind("self_attn."));
    if (b.q.empty() || b.k.empty() || b.v.empty() || b.o.empty() || b.gate.empty() || b.up.empty() || b.down.empty())
      return Error::of(ErrorCode::unsupported, "decoder layer " + std::to_string(i), "lacks one of q/k/v/o/gate/up/down_proj",
                       "AWQ's scale search knows Llama-style decoder layers only");
    b.attn_norm = prefix + "input_layernorm.weight";
    b.mlp_norm = others.count(prefix + "pre_feedforward_layernorm.weight") ? prefix + "pre_feedforward_layernorm.weight"
                                                                            : prefix + "post_attention_layernorm.weight";
    if (!others.count(b.attn_norm)) b.attn_norm.clear();
    if (!others.count(b.mlp_norm)) b.mlp_norm.clear();
    b.gemma_norm = model.config().architecture.rfind("Gemma", 0) == 0;
    out.push_back(b);
  }
  return out;
}

namespace {

// The collected rows of one block: each projection's inputs (q, k, v share one; gate and up too)
// and the reference outputs of o and down.
struct Inputs {
  std::map<std::string, at::Tensor> feat;
  at::Tensor ref_o, ref_down;
};
struct Scaling { std::string prev; bool prev_is_norm; std::vector<std::string> layers; at::Tensor s; };

Result<Inputs> collect(Model& model, Layers& L, const Block& blk, const at::Tensor& windows, const BlockOptions& opt) {
  Inputs in;
  Rows x_attn, x_o, o_out, x_mlp, x_down, down_out;
  QRUN_TRY(calibration::run(model, windows,
                            {{blk.q, [&](const at::Tensor& x, const at::Tensor&) { x_attn.add(x); }},
                             {blk.o, [&](const at::Tensor& x, const at::Tensor& y) { x_o.add(x), o_out.add(y); }},
                             {blk.gate, [&](const at::Tensor& x, const at::Tensor&) { x_mlp.add(x); }},
                             {blk.down, [&](const at::Tensor& x, const at::Tensor& y) { x_down.add(x), down_out.add(y); }}},
                            {opt.batch_size, true}));
  in.feat = {{blk.q, x_attn.cat()}, {blk.o, x_o.cat()}, {blk.gate, x_mlp.cat()}, {blk.down, x_down.cat()}};
  in.feat[blk.k] = in.feat[blk.v] = in.feat[blk.q];
  in.feat[blk.up] = in.feat[blk.gate];
  in.ref_o = o_out.cat(), in.ref_down = down_out.cat();
  for (const auto& n : {blk.q, blk.k, blk.v, blk.o, blk.gate, blk.up, blk.down}) (void)L.weight(n);
  return in;
}

// auto_scale_block: four searches on the unchanged layer; (prev, layers, scales) in apply order.
Result<std::vector<Scaling>> search_scales(Model& model, Layers& L, const Block& blk, Inputs& in, const at::Tensor& windows,
                                           const BlockOptions& opt, nlohmann::json& report) {
  std::vector<Scaling> found;
  auto record = [&](const char* key, const ScaleSearch& r) {
    report[key] = {{"ratio", r.ratio}, {"losses", r.losses}};
  };
  if (!blk.attn_norm.empty()) {  // attention input: input_layernorm -> q, k, v; inspect self_attn (= o_proj output)
    const std::vector<std::string> ls = {blk.q, blk.k, blk.v};
    Error err;
    bool failed = false;
    auto r = search_scale(act_scale(in.feat[blk.q]), {L.w[blk.q], L.w[blk.k], L.w[blk.v]}, opt.q,
                          [&](const std::vector<at::Tensor>& c) {
                            auto l = forward_loss(model, L, ls, c, blk.o, in.ref_o, windows, opt.batch_size);
                            if (!l) { failed = true; err = l.error(); return std::numeric_limits<double>::infinity(); }
                            return *l;
                          }, opt.n_grid);
    if (failed) return err;
    record("attn_input", r);
    if (r.ratio >= 0) found.push_back({blk.attn_norm, true, ls, r.scales});
  }
  if (L.w[blk.v].sizes() == L.w[blk.o].sizes()) {  // attn out: v_proj -> o_proj (not with GQA, as the reference)
    const at::Tensor& x = in.feat[blk.o];
    auto r = search_scale(act_scale(x), {L.w[blk.o]}, opt.q, [&](const std::vector<at::Tensor>& c) {
      return direct_loss(x, L.w[blk.o], L.b[blk.o], c[0]);
    }, opt.n_grid);
    record("attn_output", r);
    if (r.ratio >= 0) found.push_back({blk.v, false, {blk.o}, r.scales});
  }
  if (!blk.mlp_norm.empty()) {  // fc1: post_attention_layernorm -> gate, up; inspect mlp (= down_proj output)
    const std::vector<std::string> ls = {blk.gate, blk.up};
    Error err;
    bool failed = false;
    auto r = search_scale(act_scale(in.feat[blk.gate]), {L.w[blk.gate], L.w[blk.up]}, opt.q,
                          [&](const std::vector<at::Tensor>& c) {
                            auto l = forward_loss(model, L, ls, c, blk.down, in.ref_down, windows, opt.batch_size);
                            if (!l) { failed = true; err = l.error(); return std::numeric_limits<double>::infinity(); }
                            return *l;
                          }, opt.n_grid);
    if (failed) return err;
    record("mlp_input", r);
    if (r.ratio >= 0) found.push_back({blk.mlp_norm, true, ls, r.scales});
  }
  {  // fc2: up_proj -> down_proj
    const at::Tensor& x = in.feat[blk.down];
    auto r = search_scale(act_scale(x), {L.w[blk.down]}, opt.q, [&](const std::vector<at::Tensor>& c) {
      return direct_loss(x, L.w[blk.down], L.b[blk.down], c[0]);
    }, opt.n_grid);
    record("mlp_output", r);
    if (r.ratio >= 0) found.push_back({blk.up, false, {blk.down}, r.scales});
  }
  return found;
}

// apply_scale: the scales cast to the weights' dtype first (scales.to(ln.weight.dtype)), folded into the
// previous op; the scaled layers' collected inputs divided by them.
void apply_scales(Model& model, Layers& L, const Block& blk, const std::vector<Scaling>& found,
                  std::map<std::string, at::Tensor>& feat) {
  for (const Scaling& sc : found) {
    const at::Tensor s = sc.s.to(L.storage).to(at::kFloat);
    if (sc.prev_is_norm) {  // scale_ln_fcs: ln.weight /= s (Gemma: (1 + w) / s - 1)
      at::Tensor norm = other_tensor(model, sc.prev);
      const at::Tensor nf = norm.to(at::kFloat);
      norm.copy_((blk.gemma_norm ? (1 + nf) / s - 1 : nf / s).to(norm.scalar_type()));
    } else {  // scale_fc_fc: fc1 rows (and bias) /= s
      L.w[sc.prev] = L.w[sc.prev] / s.unsqueeze(1);
      if (L.b[sc.prev].defined()) L.b[sc.prev] = L.b[sc.prev] / s;
      L.changed.insert(sc.prev);
    }
    for (const auto& n : sc.layers) {
      L.w[n] = L.w[n] * s.unsqueeze(0);
      L.changed.insert(n);
      feat[n] = feat[n] / s.unsqueeze(0);  // apply_scale(..., input_feat_dict): inputs of the scaled layers
    }
  }
  for (const auto& n : L.changed) L.w[n] = L.w[n].to(L.storage).to(at::kFloat);  // as the model will store them
}

}  // namespace

Result<void> process_block(Model& model, const Block& blk, const at::Tensor& windows, const BlockOptions& opt,
                           std::map<std::string, at::Tensor>& clips, nlohmann::json& report) {
  Layers L{model, to_scalar_type(model.storage_dtype()), to_scalar_type(model.compute_dtype()), {}, {}, {}};
  QRUN_ASSIGN_OR_RETURN(Inputs in, collect(model, L, blk, windows, opt));
  if (opt.auto_scale) {
    QRUN_ASSIGN_OR_RETURN(auto found, search_scales(model, L, blk, in, windows, opt, report));
    apply_scales(model, L, blk, found, in.feat);
    for (const auto& n : L.changed) QRUN_TRY(model.set_linear(n, L.dense(n, L.w[n])));
  }
  // auto_clip_block: every projection but q and k ("due to qk bmm, it is hard to clip precisely").
  if (opt.auto_clip)
    for (const auto& n : {blk.v, blk.o, blk.gate, blk.up, blk.down}) clips[n] = clip_search(L.w[n], in.feat[n], opt.q, opt.n_grid);
  return {};
}

}  // namespace qrun::awq
