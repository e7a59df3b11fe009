// gptq: GPTQ (Frantar et al. 2022) as IST-DASLab/gptq's llama.py runs it: decoder layers in order;
// within a layer the projections in true-sequential groups ([k, v, q], [o], [up, gate], [down]);
// for each group the calibration windows run through the model with the group's inputs observed
// (H = 2/n sum x x^T in float32, n counting sequences, gptq.py add_batch), then each projection is
// solved (gptq_solver.hpp) and replaced by its packed layer (gptq_format.hpp) before the next
// group's inputs are collected, so every layer sees the outputs of the already quantized ones.
// Memory: the Hessians of one group at a time.
#include "gptq_format.hpp"
#include "gptq_solver.hpp"

#include <qrun/calibration.hpp>
#include <qrun/plugin.hpp>
#include <qrun/quant/layer_select.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <map>

namespace {

struct Cfg {
  std::int64_t bits = 4, group_size = 128;
  bool sym = true, act_order = false, static_groups = false, true_sequential = true;
  double percdamp = 0.01;
  std::int64_t blocksize = 128;
  std::string calibration = "datasets/calibration.json";
  std::int64_t n_samples = 128, seq_len = 0, seed = 0, batch_size = 8;
  std::string checkpoint_format = "gptq";
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("bits", &Cfg::bits).range(2, 8).doc("bits per weight code: 2, 3, 4 or 8"),
    qrun::field("group_size", &Cfg::group_size).min(-1).doc("input columns sharing a scale and zero; -1: one per row"),
    qrun::field("sym", &Cfg::sym).doc("symmetric grid (zero point 2^(bits-1)); false: per-group zero point"),
    qrun::field("act_order", &Cfg::act_order).doc("desc_act: quantize columns in decreasing diag(H)"),
    qrun::field("static_groups", &Cfg::static_groups).doc("group ranges fixed before the solve, in column order"),
    qrun::field("true_sequential", &Cfg::true_sequential).doc("solve [k,v,q], [o], [up,gate], [down] in turn, each on "
                                                              "inputs through the already quantized ones"),
    qrun::field("percdamp", &Cfg::percdamp).range(0.0, 1.0).doc("dampening: percdamp * mean(diag(H)) added to diag(H)"),
    qrun::field("blocksize", &Cfg::blocksize).min(1).doc("columns per lazy-batch block"),
    qrun::field("calibration", &Cfg::calibration).doc("calibration file: qrun calibration JSON, prompt suite JSON, JSON list "
                                                      "of strings or plain text (relative to the working directory)"),
    qrun::field("n_samples", &Cfg::n_samples).min(1).doc("calibration windows"),
    qrun::field("seq_len", &Cfg::seq_len).min(0).unit("tokens").doc("tokens per window; 0: min(2048, max_position_embeddings)"),
    qrun::field("seed", &Cfg::seed).min(0).doc("seed of the window sampling (Python random, as GPTQ's datautils)"),
    qrun::field("batch_size", &Cfg::batch_size).min(1).doc("windows per forward while collecting inputs"),
    qrun::field("checkpoint_format", &Cfg::checkpoint_format).choices({"gptq", "gptq_v2"})
        .doc("zero points as AutoGPTQ stores them (gptq: zero - 1) or GPTQModel's gptq_v2 (zero)"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

// llama.py's true-sequential order within a decoder layer; other names come after, one group each.
int sequential_rank(const std::string& name) {
  const std::string leaf = name.substr(name.rfind('.') + 1);
  if (leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj" || leaf == "qkv_proj") return 0;
  if (leaf == "o_proj") return 1;
  if (leaf == "gate_proj" || leaf == "up_proj" || leaf == "gate_up_proj") return 2;
  if (leaf == "down_proj") return 3;
  return 4;
}

// The groups of layers solved together, in order (names keep Model::linear_names() order).
std::vector<std::vector<std::string>> solve_order(const std::vector<std::string>& names, bool true_sequential) {
  std::map<std::int64_t, std::vector<std::string>> by_block;  // decoder layer -> names; -1 (lm_head) last
  for (const auto& n : names) by_block[qrun::calibration::decoder_layer_of(n)].push_back(n);
  std::vector<std::vector<std::string>> out;
  auto emit = [&](const std::vector<std::string>& block) {
    if (!true_sequential) return out.push_back(block);
    std::map<int, std::vector<std::string>> ranks;
    for (const auto& n : block) {
      const int r = sequential_rank(n);
      if (r < 4) ranks[r].push_back(n);
      else ranks[4 + static_cast<int>(ranks.size())].push_back(n);
    }
    for (auto& [r, v] : ranks) out.push_back(v);
  };
  for (const auto& [block, v] : by_block)
    if (block >= 0) emit(v);
  if (by_block.count(-1)) emit(by_block[-1]);
  return out;
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  if (c.bits != 2 && c.bits != 3 && c.bits != 4 && c.bits != 8)
    return qrun::Error{"gptq.bits", std::to_string(c.bits) + " is not a GPTQ width", "use 2, 3, 4 or 8"};
  if (c.group_size == 0) return qrun::Error{"gptq.group_size", "0 is not a group size", "use -1 or a positive size"};
  c10::InferenceMode guard;
  QRUN_ASSIGN_OR_RETURN(auto selected, qrun::quant::select_layers(model.linear_names(), c.include, c.exclude, "gptq.include"));
  for (const auto& n : selected)
    if (model.linear(n).kind() != "dense")
      return qrun::Error{n, "is already quantized (" + model.linear(n).kind() + ")",
                         "apply one quantizer per variant, to a model loaded in full precision"};
  const std::int64_t max_pos = model.config().max_position_embeddings;
  const std::int64_t seq_len = c.seq_len > 0 ? c.seq_len : (max_pos > 0 ? std::min<std::int64_t>(2048, max_pos) : 2048);
  if (max_pos > 0 && seq_len > max_pos)
    return qrun::Error{"gptq.seq_len", std::to_string(seq_len) + " exceeds the model's max_position_embeddings " +
                                           std::to_string(max_pos), "use seq_len <= " + std::to_string(max_pos) + " or 0"};
  qrun::calibration::Spec spec{c.calibration, c.n_samples, seq_len, static_cast<std::uint64_t>(c.seed),
                               qrun::calibration::Sampling::random_windows};
  auto data = qrun::calibration::load(spec, model.tokenizer());
  if (!data) return data.error().within("gptq.calibration");

  const qrun::gptq::SolverParams sp{static_cast<int>(c.bits), c.group_size, c.sym, c.act_order, c.static_groups,
                                    c.percdamp, c.blocksize};
  const qrun::gptq::GptqFormat fmt{static_cast<int>(c.bits), c.group_size, c.sym, c.act_order,
                                   c.checkpoint_format == "gptq_v2"};
  const c10::ScalarType compute = qrun::to_scalar_type(model.compute_dtype());
  const auto order = solve_order(selected, c.true_sequential);
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t bytes_before = 0, bytes_after = 0;
  nlohmann::json per_layer = nlohmann::json::object();
  auto progress = ctx.progress("gptq", static_cast<std::int64_t>(order.size()));
  for (const auto& group : order) {
    std::map<std::string, qrun::gptq::Hessian> hs;
    std::vector<qrun::calibration::Observer> obs;
    for (const auto& n : group) obs.push_back({n, [&hs, n](const at::Tensor& x, const at::Tensor&) { hs[n].add(x); }});
    QRUN_TRY(qrun::calibration::run(model, data->windows, obs, {c.batch_size, true}));
    for (const auto& n : group) {
      const qrun::LinearImpl& dense = model.linear(n);
      const auto ts = std::chrono::steady_clock::now();
      const auto r = qrun::gptq::solve(dense.weight(at::kFloat), hs[n].H, sp);
      hs.erase(n);
      if (!std::isfinite(r.loss))
        return qrun::Error{n, "GPTQ produced a non-finite loss (the Hessian is not positive definite after dampening)",
                           "raise percdamp or use more calibration samples", qrun::ErrorCode::invalid_argument};
      auto layer = qrun::gptq::GptqLinear::from_codes(r.codes, r.scales, r.zeros, r.g_idx, dense.bias(), fmt, compute);
      bytes_before += dense.storage().bytes;
      bytes_after += layer->storage().bytes;
      per_layer[n] = {{"loss", r.loss},
                      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count()}};
      QRUN_TRY(model.set_linear(n, layer));
    }
    progress->advance();
  }
  progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  qrun::TransformReport rep;
  rep.summary = "gptq: quantized " + std::to_string(selected.size()) + " layers to int" + std::to_string(c.bits) +
                (c.group_size == -1 ? " per-row" : " g" + std::to_string(c.group_size)) + " on " +
                std::to_string(data->record.tokens) + " calibration tokens in " + std::to_string(seconds) + " s";
  nlohmann::json params = {{"bits", c.bits}, {"group_size", c.group_size}, {"sym", c.sym}, {"act_order", c.act_order},
                           {"static_groups", c.static_groups}, {"true_sequential", c.true_sequential},
                           {"percdamp", c.percdamp}, {"blocksize", c.blocksize}, {"checkpoint_format", c.checkpoint_format},
                           {"include", c.include}, {"exclude", c.exclude}};
  rep.details = {{"method", "gptq"}, {"params", params}, {"calibration", data->record.to_json()},
                 {"layers", selected}, {"layers_quantized", selected.size()}, {"bytes_before", bytes_before},
                 {"bytes_after", bytes_after}, {"hf_footprint_before", bytes_before}, {"hf_footprint_after", bytes_after},
                 {"seconds", seconds}, {"per_layer", per_layer}};
  // AutoGPTQ's BaseQuantizeConfig / transformers' GPTQConfig, so that the checkpoint reads as GPTQ's.
  rep.details["quantization_config"] = {
      {"quant_method", "gptq"}, {"bits", c.bits}, {"group_size", c.group_size}, {"desc_act", c.act_order},
      {"sym", c.sym}, {"static_groups", c.static_groups}, {"true_sequential", c.true_sequential},
      {"damp_percent", c.percdamp}, {"checkpoint_format", c.checkpoint_format}};
  ctx.info(rep.summary);
  return rep;
}

}  // namespace

QRUN_PLUGIN("gptq", "0.1.0",
            qrun::transform("gptq", schema, qrun::Role::quantizer,
                            "GPTQ (Frantar et al. 2022): Hessian-aware int2-int8 with calibration data", apply),
            qrun::linear_kind("gptq", "GPTQ/AutoGPTQ packing: int32 qweight, qzeros, float16 scales, g_idx",
                              qrun::gptq::load, qrun::gptq::recognizes));
