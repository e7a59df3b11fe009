// awq: AWQ (Lin et al. 2024) as mit-han-lab/llm-awq's run_awq + real quantization runs it:
// decoder layers in order; per layer the inputs of its projections are collected on the
// calibration blocks through the already scaled earlier layers, the four activation-aware scales
// are searched over a grid of 20 ratios and folded into the preceding norm / linear, and the
// clipping of every projection but q and k is searched (awq_block.hpp); then every selected layer
// is clipped and quantized group-wise asymmetric (pseudo_quantize_tensor) into AutoAWQ's GEMM
// format (awq_format.hpp). Calibration: AWQ's blocks (qrun/calibration.hpp Sampling::blocks).
#include "awq_block.hpp"
#include "awq_format.hpp"

#include <qrun/calibration.hpp>
#include <qrun/plugin.hpp>
#include <qrun/quant/layer_select.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>

namespace {

struct Cfg {
  std::int64_t bits = 4, group_size = 128;
  bool auto_scale = true, auto_clip = true;
  std::string calibration = "datasets/calibration.json";
  std::int64_t n_samples = 128, seq_len = 0, seed = 42, batch_size = 8;
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("bits", &Cfg::bits).range(2, 8).doc("bits per weight code (AutoAWQ's GEMM format: 4)"),
    qrun::field("group_size", &Cfg::group_size).min(-1).doc("input columns sharing a scale and zero; -1: one per row"),
    qrun::field("auto_scale", &Cfg::auto_scale).doc("search and fold the activation-aware scales"),
    qrun::field("auto_clip", &Cfg::auto_clip).doc("search the weight clipping (mse_range)"),
    qrun::field("calibration", &Cfg::calibration).doc("calibration file: qrun calibration JSON, prompt suite JSON, JSON list "
                                                      "of strings or plain text (relative to the working directory)"),
    qrun::field("n_samples", &Cfg::n_samples).min(1).doc("calibration blocks (fewer when the file holds fewer)"),
    qrun::field("seq_len", &Cfg::seq_len).min(0).unit("tokens").doc("tokens per block; 0: min(512, max_position_embeddings)"),
    qrun::field("seed", &Cfg::seed).min(0).doc("seed of the text shuffle (Python random; AWQ shuffles with 42)"),
    qrun::field("batch_size", &Cfg::batch_size).min(1).doc("blocks per forward"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

// Every selected layer, clipped (when searched) and quantized into the AWQ format.
qrun::Result<std::pair<std::int64_t, std::int64_t>> quantize_all(qrun::Model& model, const std::vector<std::string>& names,
                                                                 const qrun::awq::QConfig& q,
                                                                 const std::map<std::string, at::Tensor>& clips) {
  const c10::ScalarType storage = qrun::to_scalar_type(model.storage_dtype());
  const c10::ScalarType compute = qrun::to_scalar_type(model.compute_dtype());
  std::int64_t before = 0, after = 0;
  for (const auto& n : names) {
    const qrun::LinearImpl& dense = model.linear(n);
    at::Tensor w = dense.weight(storage).to(at::kFloat);
    if (auto it = clips.find(n); it != clips.end()) w = qrun::awq::apply_clip(w, it->second).to(storage).to(at::kFloat);
    at::Tensor s, z;
    (void)qrun::awq::pseudo_quantize(w, q, &s, &z);
    const std::int64_t g = q.group_size > 0 ? q.group_size : w.size(1);
    const double max_int = std::pow(2.0, q.bits) - 1;
    const at::Tensor wg = w.reshape({w.size(0), -1, g});
    const at::Tensor codes = at::clamp(at::round(wg / s.unsqueeze(2)) + z.unsqueeze(2), 0, max_int).reshape(w.sizes());
    auto layer = qrun::awq::AwqLinear::from_codes(codes, s, z, dense.bias(), q.bits, compute);
    before += dense.storage().bytes;
    after += layer->storage().bytes;
    QRUN_TRY(model.set_linear(n, layer));
  }
  return std::make_pair(before, after);
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  c10::InferenceMode guard;
  QRUN_ASSIGN_OR_RETURN(auto selected, qrun::quant::select_layers(model.linear_names(), c.include, c.exclude, "awq.include"));
  for (const auto& n : selected) {
    const qrun::LinearImpl& l = model.linear(n);
    if (l.kind() != "dense")
      return qrun::Error{n, "is already quantized (" + l.kind() + ")", "apply one quantizer per variant, to a model loaded "
                                                                       "in full precision"};
    if (c.group_size > 0 && l.in_features() % c.group_size != 0)
      return qrun::Error{n, "has " + std::to_string(l.in_features()) + " input columns, not a multiple of group_size " +
                                std::to_string(c.group_size), "choose a group_size that divides in_features, or -1"};
  }
  QRUN_ASSIGN_OR_RETURN(auto blocks, qrun::awq::find_blocks(model));
  const std::int64_t max_pos = model.config().max_position_embeddings;
  const std::int64_t seq_len = c.seq_len > 0 ? c.seq_len : (max_pos > 0 ? std::min<std::int64_t>(512, max_pos) : 512);
  if (max_pos > 0 && seq_len > max_pos)
    return qrun::Error{"awq.seq_len", std::to_string(seq_len) + " exceeds max_position_embeddings " + std::to_string(max_pos),
                       "use seq_len <= " + std::to_string(max_pos) + " or 0"};
  auto data = qrun::calibration::load({c.calibration, c.n_samples, seq_len, static_cast<std::uint64_t>(c.seed),
                                       qrun::calibration::Sampling::blocks}, model.tokenizer());
  if (!data) return data.error().within("awq.calibration");
  if (data->record.windows < c.n_samples)
    ctx.warn("awq: " + c.calibration + " holds " + std::to_string(data->record.windows) + " blocks of " +
             std::to_string(seq_len) + " tokens (n_samples " + std::to_string(c.n_samples) + " asked for)");

  const qrun::awq::QConfig q{static_cast<int>(c.bits), c.group_size};
  const qrun::awq::BlockOptions opt{q, c.auto_scale, c.auto_clip, 20, c.batch_size};
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, at::Tensor> clips;
  nlohmann::json searches = nlohmann::json::object();
  auto progress = ctx.progress("awq", static_cast<std::int64_t>(blocks.size()));
  for (const auto& b : blocks) {
    nlohmann::json rep = nlohmann::json::object();
    QRUN_TRY(qrun::awq::process_block(model, b, data->windows, opt, clips, rep));
    searches["layer " + std::to_string(b.index)] = rep;
    progress->advance();
  }
  progress->finish();
  QRUN_ASSIGN_OR_RETURN(auto bytes, quantize_all(model, selected, q, clips));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  qrun::TransformReport rep;
  rep.summary = "awq: quantized " + std::to_string(selected.size()) + " layers to int" + std::to_string(c.bits) +
                (c.group_size == -1 ? " per-row" : " g" + std::to_string(c.group_size)) + " on " +
                std::to_string(data->record.tokens) + " calibration tokens in " + std::to_string(seconds) + " s";
  rep.details = {{"method", "awq"},
                 {"params", {{"bits", c.bits}, {"group_size", c.group_size}, {"auto_scale", c.auto_scale},
                             {"auto_clip", c.auto_clip}, {"include", c.include}, {"exclude", c.exclude}}},
                 {"calibration", data->record.to_json()}, {"layers", selected}, {"layers_quantized", selected.size()},
                 {"bytes_before", bytes.first}, {"bytes_after", bytes.second}, {"hf_footprint_before", bytes.first},
                 {"hf_footprint_after", bytes.second}, {"seconds", seconds}, {"searches", searches}};
  if (c.bits == 4)  // AutoAWQ's AwqConfig.to_transformers_dict(), so that the checkpoint reads as AutoAWQ's
    rep.details["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", c.group_size},
                                          {"zero_point", true}, {"version", "gemm"},
                                          {"modules_to_not_convert", nullptr}};
  ctx.info(rep.summary);
  return rep;
}

}  // namespace

QRUN_PLUGIN("awq", "0.1.0",
            qrun::transform("awq", schema, qrun::Role::quantizer,
                            "AWQ (Lin et al. 2024): activation-aware scales and clipping, then group-wise asymmetric int",
                            apply),
            qrun::linear_kind("awq", "AutoAWQ GEMM packing: int32 qweight/qzeros (AWQ order), float16 scales",
                              qrun::awq::load, qrun::awq::recognizes));
