// smoothquant: SmoothQuant W8A8 (Xiao et al. 2023) as mit-han-lab/smoothquant runs it on
// Llama-like models (w8a8.hpp for the numerics):
//   1. get_act_scales: max |x| per input channel of every layer, over the calibration tokens, on
//      the float model (one pass; hooks on the inputs of q_proj and gate_proj suffice here);
//   2. smooth_lm: per decoder layer, input_layernorm -> q, k, v and post_attention_layernorm (Gemma:
//      pre_feedforward_layernorm) -> gate, up (fused qkv_proj / gate_up_proj likewise) with
//      s = act^alpha / w^(1-alpha); the scales are cast to the weights' storage dtype and folded
//      into the norm (Gemma's (1 + w) norms: (1 + w) / s - 1). o_proj and down_proj are not smoothed
//      (the reference folds into norms only);
//   3. static activation scales (act_quant = static only): max |x| and max |y| of every selected
//      layer on the smoothed float model / 127 (get_static_decoder_layer_scales);
//   4. quantize_llama_like: every selected layer becomes W8A8Linear (int8 weights per channel or
//      per tensor, activations per token, per tensor or static); q/k/v outputs quantized too with
//      quantize_bmm_input.
// Calibration: qrun/calibration.hpp blocks (texts shuffled with `seed`, concatenated and cut into
// n_samples blocks of seq_len tokens). The reference instead takes the first 512 shuffled pile-val
// texts truncated to 512 tokens each; the record in the report names what was used.
// smooth = false gives plain W8A8 (the paper's baseline) with the same quantization.
#include "w8a8.hpp"

#include <qrun/calibration.hpp>
#include <qrun/plugin.hpp>
#include <qrun/quant/layer_select.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <map>
#include <set>

namespace {

namespace sq = qrun::smoothquant;

struct Cfg {
  double alpha = 0.5;
  bool smooth = true;
  std::string weight_quant = "per_channel", act_quant = "per_token";
  bool quantize_bmm_input = false;
  std::string calibration = "datasets/calibration.json";
  std::int64_t n_samples = 512, seq_len = 512, seed = 42, batch_size = 8;
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("alpha", &Cfg::alpha).range(0.0, 1.0).doc("migration strength: s = max|X|^alpha / max|W|^(1-alpha)"),
    qrun::field("smooth", &Cfg::smooth).doc("fold the smoothing scales into the norms; false: plain W8A8"),
    qrun::field("weight_quant", &Cfg::weight_quant).choices({"per_channel", "per_tensor"}).doc("int8 weight scales"),
    qrun::field("act_quant", &Cfg::act_quant).choices({"per_token", "per_tensor", "static"})
        .doc("int8 activations: dynamic per token, dynamic per tensor, or static from calibration"),
    qrun::field("quantize_bmm_input", &Cfg::quantize_bmm_input).doc("also quantize q/k/v outputs (the BMM inputs)"),
    qrun::field("calibration", &Cfg::calibration).doc("calibration file: qrun calibration JSON, prompt suite JSON, JSON list "
                                                      "of strings or plain text (relative to the working directory)"),
    qrun::field("n_samples", &Cfg::n_samples).min(1).doc("calibration blocks (fewer when the file holds fewer)"),
    qrun::field("seq_len", &Cfg::seq_len).min(1).unit("tokens").doc("tokens per block (capped at max_position_embeddings)"),
    qrun::field("seed", &Cfg::seed).min(0).doc("seed of the text shuffle (Python random; the reference shuffles with 42)"),
    qrun::field("batch_size", &Cfg::batch_size).min(1).doc("blocks per forward"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

// One smoothing: a norm (in other_tensors()) and the layers it feeds.
struct Group {
  std::string norm;
  std::vector<std::string> layers;
};

at::Tensor other_tensor(qrun::Model& m, const std::string& name) {
  for (auto& [n, t] : m.other_tensors())
    if (n == name) return t;
  return {};
}

// The norm -> layers groups of a Llama-style model, or an error naming what is missing.
qrun::Result<std::vector<Group>> find_groups(qrun::Model& model) {
  std::map<std::int64_t, std::map<std::string, std::string>> by;  // layer -> leaf -> name
  for (const auto& n : model.linear_names()) {
    const std::int64_t i = qrun::calibration::decoder_layer_of(n);
    if (i >= 0) by[i][n.substr(n.rfind('.') + 1)] = n;
  }
  std::set<std::string> others;
  for (const auto& [n, t] : model.other_tensors()) others.insert(n);
  std::vector<Group> out;
  for (auto& [i, leaf] : by) {
    auto pick = [&](std::vector<std::string> split, const std::string& fused) {
      std::vector<std::string> r;
      for (const auto& s : split)
        if (leaf.count(s)) r.push_back(leaf[s]);
      if (r.size() == split.size()) return r;
      return leaf.count(fused) ? std::vector<std::string>{leaf[fused]} : std::vector<std::string>{};
    };
    const auto attn = pick({"q_proj", "k_proj", "v_proj"}, "qkv_proj"), mlp = pick({"gate_proj", "up_proj"}, "gate_up_proj");
    if (attn.empty() || mlp.empty())
      return qrun::Error::of(qrun::ErrorCode::unsupported, "decoder layer " + std::to_string(i),
                             "lacks q/k/v_proj (or qkv_proj) or gate/up_proj (or gate_up_proj)",
                             "SmoothQuant's smoothing knows Llama-style decoder layers; use smooth=false");
    const std::string prefix = attn[0].substr(0, attn[0].rfind("self_attn."));
    const std::string attn_norm = prefix + "input_layernorm.weight";
    const std::string mlp_norm = others.count(prefix + "pre_feedforward_layernorm.weight")
                                     ? prefix + "pre_feedforward_layernorm.weight"
                                     : prefix + "post_attention_layernorm.weight";
    if (!others.count(attn_norm) || !others.count(mlp_norm))
      return qrun::Error::of(qrun::ErrorCode::unsupported, "decoder layer " + std::to_string(i),
                             "has no " + attn_norm + " / " + mlp_norm, "use smooth=false for this model");
    out.push_back({attn_norm, attn});
    out.push_back({mlp_norm, mlp});
  }
  return out;
}

// get_act_scales for the first layer of every group: max |x| per input channel, float32.
qrun::Result<std::map<std::string, at::Tensor>> act_scales(qrun::Model& model, const std::vector<Group>& groups,
                                                           const at::Tensor& windows, std::int64_t batch_size) {
  std::map<std::string, at::Tensor> amax;
  std::vector<qrun::calibration::Observer> obs;
  for (const auto& g : groups)
    obs.push_back({g.layers[0], [&amax, name = g.layers[0]](const at::Tensor& x, const at::Tensor&) {
                     const at::Tensor m = x.reshape({-1, x.size(-1)}).abs().amax(0).to(at::kFloat).cpu();
                     at::Tensor& cur = amax[name];
                     cur = cur.defined() ? at::maximum(cur, m) : m;
                   }});
  QRUN_TRY(qrun::calibration::run(model, windows, obs, {batch_size, true}));
  return amax;
}

// smooth_ln_fcs_llama_like for every group; returns max|X| before and after smoothing for the report.
qrun::Result<nlohmann::json> smooth(qrun::Model& model, const std::vector<Group>& groups,
                                    const std::map<std::string, at::Tensor>& amax, double alpha) {
  const c10::ScalarType storage = qrun::to_scalar_type(model.storage_dtype());
  const c10::ScalarType compute = qrun::to_scalar_type(model.compute_dtype());
  const bool gemma = model.config().architecture.rfind("Gemma", 0) == 0;
  nlohmann::json rep = nlohmann::json::array();
  for (const auto& g : groups) {
    std::vector<at::Tensor> ws;
    for (const auto& n : g.layers) ws.push_back(model.linear(n).weight(storage).to(at::kFloat));
    const at::Tensor a = amax.at(g.layers[0]);  // CPU
    const at::Tensor s = sq::smoothing_scales(a.to(ws[0].device()), ws, alpha).to(storage).to(at::kFloat);
    at::Tensor norm = other_tensor(model, g.norm);
    const at::Tensor nf = norm.to(at::kFloat);
    const at::Tensor sd = s.to(norm.device());
    norm.copy_((gemma ? (1 + nf) / sd - 1 : nf / sd).to(norm.scalar_type()));
    for (std::size_t i = 0; i < g.layers.size(); ++i) {
      const at::Tensor b = model.linear(g.layers[i]).bias();
      const at::Tensor w = (ws[i] * s.to(ws[i].device()).unsqueeze(0)).to(storage);
      QRUN_TRY(model.set_linear(g.layers[i], qrun::make_dense_linear(w, b.defined() ? b.to(storage) : b, compute)));
    }
    const at::Tensor sc = a.to(at::kFloat) / s.cpu();
    rep.push_back({{"norm", g.norm}, {"layers", g.layers}, {"act_absmax_before", a.max().item<double>()},
                   {"act_absmax_after", sc.max().item<double>()}, {"scale_min", s.min().item<double>()},
                   {"scale_max", s.max().item<double>()}});
  }
  return rep;
}

struct Static { at::Tensor in, out; };

// get_static_decoder_layer_scales: max |x| and max |y| over the calibration tokens / 127.
qrun::Result<std::map<std::string, Static>> static_scales(qrun::Model& model, const std::vector<std::string>& names,
                                                          const at::Tensor& windows, std::int64_t batch_size) {
  std::map<std::string, std::pair<double, double>> m;
  std::vector<qrun::calibration::Observer> obs;
  for (const auto& n : names)
    obs.push_back({n, [&m, n](const at::Tensor& x, const at::Tensor& y) {
                     auto& [xi, yo] = m[n];
                     xi = std::max(xi, x.abs().max().item<double>());
                     yo = std::max(yo, y.abs().max().item<double>());
                   }});
  QRUN_TRY(qrun::calibration::run(model, windows, obs, {batch_size, true}));
  std::map<std::string, Static> out;
  auto t = [](double v) { return at::full({1}, static_cast<float>(v / sq::kQMax), at::TensorOptions().dtype(at::kFloat)); };
  for (const auto& [n, v] : m) out[n] = {t(v.first), t(v.second)};
  return out;
}

bool is_bmm_input(const std::string& n) {
  const std::string leaf = n.substr(n.rfind('.') + 1);
  return leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj" || leaf == "qkv_proj";
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor q, st.get("weight"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("weight_scale"));
  const sq::Act act = sq::act_from_string(st.metadata.value("act_quant", std::string("per_token")));
  const bool qout = st.metadata.value("quantize_output", false);
  const at::Tensor in_s = st.find("input_scale"), out_s = st.find("output_scale");
  const bool scales_ok = act != sq::Act::fixed ? !in_s.defined() && !out_s.defined()
                                               : in_s.defined() && in_s.numel() == 1 && (out_s.defined() == qout);
  if (q.scalar_type() != at::kChar || q.dim() != 2 || !scales_ok ||
      !(s.numel() == 1 || (s.dim() == 2 && s.size(0) == q.size(0) && s.size(1) == 1)))
    return qrun::Error{st.name, "w8a8 tensors and metadata disagree (weight int8 [out, in], weight_scale [out, 1] or [1], "
                                "input_scale/output_scale only for static activations)",
                       "rewrite the checkpoint with qrun quantize --quantizer smoothquant", qrun::ErrorCode::corrupt_input};
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  auto f = [&](const at::Tensor& t) { return t.defined() ? d(t.to(at::kFloat)) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<sq::W8A8Linear>(
      d(q), f(s), d(st.find("bias")), act, qout, f(in_s), f(out_s), st.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  c10::InferenceMode guard;
  QRUN_ASSIGN_OR_RETURN(auto selected,
                        qrun::quant::select_layers(model.linear_names(), c.include, c.exclude, "smoothquant.include"));
  for (const auto& n : selected)
    if (model.linear(n).kind() != "dense")
      return qrun::Error{n, "is already quantized (" + model.linear(n).kind() + ")",
                         "apply one quantizer per variant, to a model loaded in full precision"};
  const bool need_data = c.smooth || c.act_quant == "static";
  const auto t0 = std::chrono::steady_clock::now();
  nlohmann::json details = nlohmann::json::object();
  at::Tensor windows;
  if (need_data) {
    const std::int64_t max_pos = model.config().max_position_embeddings;
    const std::int64_t seq_len = max_pos > 0 ? std::min(c.seq_len, max_pos) : c.seq_len;
    auto data = qrun::calibration::load({c.calibration, c.n_samples, seq_len, static_cast<std::uint64_t>(c.seed),
                                         qrun::calibration::Sampling::blocks}, model.tokenizer());
    if (!data) return data.error().within("smoothquant.calibration");
    windows = data->windows;
    details["calibration"] = data->record.to_json();
  }
  if (c.smooth) {
    QRUN_ASSIGN_OR_RETURN(auto groups, find_groups(model));
    QRUN_ASSIGN_OR_RETURN(auto amax, act_scales(model, groups, windows, c.batch_size));
    QRUN_ASSIGN_OR_RETURN(details["smoothing"], smooth(model, groups, amax, c.alpha));
  }
  std::map<std::string, Static> fixed;
  if (c.act_quant == "static") {
    QRUN_ASSIGN_OR_RETURN(fixed, static_scales(model, selected, windows, c.batch_size));
  }
  const sq::Act act = sq::act_from_string(c.act_quant);
  const c10::ScalarType storage = qrun::to_scalar_type(model.storage_dtype());
  const c10::ScalarType compute = qrun::to_scalar_type(model.compute_dtype());
  std::int64_t before = 0, after = 0;
  for (const auto& n : selected) {
    const qrun::LinearImpl& dense = model.linear(n);
    const bool qout = c.quantize_bmm_input && is_bmm_input(n);
    const auto w = sq::quantize_weight(dense.weight(storage), c.weight_quant == "per_channel");
    at::Tensor in_s, out_s;
    if (act == sq::Act::fixed) {
      in_s = fixed.at(n).in.to(model.device());
      if (qout) out_s = fixed.at(n).out.to(model.device());
    }
    auto layer = std::make_shared<sq::W8A8Linear>(w.codes, w.scale, dense.bias(), act, qout, in_s, out_s, compute);
    before += dense.storage().bytes;
    after += layer->storage().bytes;
    QRUN_TRY(model.set_linear(n, layer));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  qrun::TransformReport rep;
  rep.summary = std::string("smoothquant: ") + (c.smooth ? "smoothed (alpha " + std::to_string(c.alpha) + ") and " : "") +
                "quantized " + std::to_string(selected.size()) + " layers to W8A8 (" + c.weight_quant + " weights, " +
                c.act_quant + " activations) in " + std::to_string(seconds) + " s";
  details.update({{"method", "smoothquant"},
                  {"params", {{"alpha", c.alpha}, {"smooth", c.smooth}, {"weight_quant", c.weight_quant},
                              {"act_quant", c.act_quant}, {"quantize_bmm_input", c.quantize_bmm_input},
                              {"include", c.include}, {"exclude", c.exclude}}},
                  {"layers", selected}, {"layers_quantized", selected.size()}, {"bytes_before", before},
                  {"bytes_after", after}, {"hf_footprint_before", before}, {"hf_footprint_after", after},
                  {"seconds", seconds}});
  rep.details = details;
  ctx.info(rep.summary);
  return rep;
}

}  // namespace

QRUN_PLUGIN("smoothquant", "0.1.0",
            qrun::transform("smoothquant", schema, qrun::Role::quantizer,
                            "SmoothQuant W8A8 (Xiao et al. 2023): activation outliers migrated into the weights, then "
                            "int8 weights and activations",
                            apply),
            qrun::linear_kind("w8a8", "int8 weights (per channel or tensor) with int8 fake-quantized activations "
                                      "(per token, per tensor or static scales)",
                              load));
