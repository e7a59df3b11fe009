// quantization_box: how wide the quantization boxes of the baseline's weights are (Egashira et al.,
// "Exploiting LLM Quantization", NeurIPS 2024: the interval each weight may move in without
// changing its quantized code, the block's/row's absmax element held fixed) and how many codes a
// variant changes against the baseline (the flip rate), the quantity that decides whether a
// defense such as weight noise can remove a box-constrained attack. Numerics: qrun/quant/box.hpp;
// for ggml types (gguf layers, or a ggml type as the quantizer) gguf_boxes.hpp.
#include "gguf_boxes.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/box.hpp>
#include <qrun/quant/layer_select.hpp>
#include <qrun/stats.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using qrun::quant::BoxMethod;
using qrun::quant::QuantizerSpec;

struct BoxParams {
  std::string quantizer = "nf4";
  std::int64_t blocksize = qrun::quant::kDefaultBlocksize4bit;
  std::vector<std::string> exclude = {"lm_head"};
  std::string imatrix;            // ggml types only
  std::int64_t box_rows = 4;      // ggml types only
  std::int64_t certify_draws = 1024;
};

const auto schema = qrun::schema<BoxParams>(
    qrun::field("quantizer", &BoxParams::quantizer)
        .choices({"nf4", "fp4", "int8", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",
                  "iq4_nl", "iq4_xs", "mxfp4"})
        .doc("quantizer for variants whose linear layers are dense (the baseline, a defense alone): bitsandbytes' "
             "nf4/fp4/int8 or a ggml type (llama.cpp's fallback where rows are not whole blocks); a quantized variant "
             "(int8/nf4/fp4 or gguf layers) always uses its own layers' quantizer"),
    qrun::field("blocksize", &BoxParams::blocksize)
        .range(64, 4096)
        .unit("weights")
        .doc("nf4/fp4 block size for dense variants; a power of two (bitsandbytes' choices)"),
    qrun::field("exclude", &BoxParams::exclude)
        .doc("dense variants: layer-name patterns left out, as the quantizers' default (a quantized variant: its "
             "quantized layers are analysed)"),
    qrun::field("imatrix", &BoxParams::imatrix)
        .doc("ggml types: the importance matrix the variant was quantized with (safetensors, one float32 [in_features] "
             "vector per layer, named as the layer, layer.weight or llama.cpp's name); the baseline is quantized with it "
             "where the variant's layer was; empty: none"),
    qrun::field("box_rows", &BoxParams::box_rows).min(0).unit("rows")
        .doc("ggml types: rows per layer whose boxes are computed, evenly spaced (0: all; certified boxes cost "
             "thousands of re-quantizations per super-block)"),
    qrun::field("certify_draws", &BoxParams::certify_draws).range(16, 100000)
        .doc("ggml certified boxes (k-quants, iq4, imatrix paths): consecutive clean re-quantization draws that "
             "certify a block"));

// Box widths of one layer of the baseline under one quantizer. Widths are hi - lo (float64) of the
// closed float32 boxes, over the weights not held fixed as their block's/row's absmax.
struct LayerBoxStats {
  std::string name;
  std::int64_t weights = 0;  // all weights of the layer
  std::int64_t held = 0;     // frozen as absmax (width excluded)
  qrun::RunningStats rel_absmax, rel_rms, width;
  double rel_absmax_median = 0, rel_rms_median = 0, width_median = 0;
};

double median_of(const at::Tensor& v_f64) {
  if (v_f64.numel() == 0) return std::nan("");
  const at::Tensor s = std::get<0>(v_f64.sort());
  return qrun::percentile({s.data_ptr<double>(), static_cast<std::size_t>(s.numel())}, 0.5);
}

void add_all(qrun::RunningStats& st, const at::Tensor& v_f64) {
  const double* p = v_f64.data_ptr<double>();
  for (std::int64_t i = 0; i < v_f64.numel(); ++i) st.add(p[i]);
}

qrun::Result<LayerBoxStats> layer_box_stats(const std::string& name, const at::Tensor& w, const QuantizerSpec& q) {
  auto boxes = qrun::quant::quantization_boxes(w, q, name + ".weight");
  if (!boxes) return boxes.error();
  LayerBoxStats s;
  s.name = name;
  s.weights = w.numel();
  s.held = boxes->held.sum().item<std::int64_t>();
  const at::Tensor free = at::logical_and(at::logical_not(boxes->held), boxes->absmax > 0).reshape({-1});
  const at::Tensor width = (boxes->hi.to(at::kDouble) - boxes->lo.to(at::kDouble)).reshape({-1}).index({free}).contiguous();
  const at::Tensor absmax = boxes->absmax.to(at::kDouble).reshape({-1}).index({free});
  // RMS of the layer's weights, sqrt(Σw²/n) in float64: the layer's weight scale.
  const double rms = w.to(at::kDouble).square().mean().sqrt().item<double>();
  const at::Tensor rel_absmax = (width / absmax).contiguous();
  const at::Tensor rel_rms = rms > 0 ? (width / rms).contiguous() : at::empty({0}, width.options());
  add_all(s.width, width);
  add_all(s.rel_absmax, rel_absmax);
  add_all(s.rel_rms, rel_rms);
  s.width_median = median_of(width);
  s.rel_absmax_median = median_of(rel_absmax);
  s.rel_rms_median = median_of(rel_rms);
  return s;
}

bool has_layer(const qrun::Model& m, const std::string& name) {
  const auto names = m.linear_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The quantizer and layers of one variant: its quantized layers (one quantizer for all), or, for a
// dense variant, the metric's quantizer on every layer not excluded.
struct VariantPlan {
  QuantizerSpec spec;
  bool from_variant = false;
  std::vector<std::string> layers;
  std::vector<std::string> skipped;  // dense layers of a quantized variant
};

qrun::Result<VariantPlan> plan_variant(const BoxParams& p, const qrun::VariantModel& v) {
  VariantPlan plan;
  std::optional<QuantizerSpec> spec;
  for (const std::string& name : v.model->linear_names()) {
    auto codes = qrun::quant::layer_codes(v.model->linear(name), v.name + " " + name);
    if (!codes) return codes.error();
    if (!*codes) {
      plan.skipped.push_back(name);
      continue;
    }
    if (spec && !(*spec == (*codes)->spec))
      return qrun::Error{"quantization_box variant " + v.name,
                         "mixes quantizers (" + describe(*spec) + " and " + describe((*codes)->spec) + " at " + name + ")",
                         "analyse variants quantized with one quantizer"};
    spec = (*codes)->spec;
    plan.layers.push_back(name);
  }
  if (spec) {
    plan.spec = *spec;
    plan.from_variant = true;
    return plan;
  }
  plan.skipped.clear();
  plan.spec = QuantizerSpec{*qrun::quant::parse_box_method(p.quantizer), p.blocksize};
  auto selected = qrun::quant::select_layers(v.model->linear_names(), {}, p.exclude, "quantization_box.exclude");
  if (!selected) return selected.error();
  plan.layers = *selected;
  for (const std::string& name : v.model->linear_names())
    if (std::find(plan.layers.begin(), plan.layers.end(), name) == plan.layers.end()) plan.skipped.push_back(name);
  return plan;
}

std::string spec_key(const QuantizerSpec& q) { return qrun::quant::describe(q); }

const qrun::MetricSpec spec{
    .compares_to_baseline = true,
    .needs_dataset = false,
    .values = {
        qrun::value("flip_rate", "flip rate", "%")
            .doc("Weights whose quantized code differs from the baseline's")
            .counting("weights analysed")
            .headline()
            .charted(qrun::Chart::per_variant)
            .criterion("min_flip_rate_pct", qrun::Rule::at_least,
                       "Fraction of quantized codes a defense changes (quantization_box `flip_rate`), lowest overall value"),
        qrun::value("flipped_weights", "flipped weights").doc("Weights with another code").counting("weights analysed"),
        qrun::value("box_width_rel_absmax_mean", "box width / absmax", "×absmax")
            .doc("Mean box width relative to the block's absmax")
            .counting("weights with a free box"),
        qrun::value("box_width_rel_rms_mean", "box width / RMS", "×RMS")
            .doc("Mean box width relative to the layer's weight RMS")
            .counting("weights with a free box"),
        qrun::value("box_width_mean", "box width").doc("Mean box width").counting("weights with a free box"),
    }};

const char* kMethod =
    "Quantization boxes as in Egashira et al., \"Exploiting LLM Quantization\" (NeurIPS 2024): for every weight of the "
    "baseline, the interval of float32 values that keeps its quantized code with the scale of its block (NF4/FP4, "
    "blockwise absmax) or row (LLM.int8, absmax/127 of the float16 weight) unchanged; the element holding the absmax "
    "is frozen (its box is the single value, excluded from the width statistics) and the others may not exceed it. "
    "Rounding is bitsandbytes' (NF4/FP4 thresholds tested with x > t, int8 round half to even), and the box ends are "
    "the exact smallest/largest float32 values keeping the code. Width = hi - lo; reported as the mean over weights "
    "of width/absmax of the weight's block or row (×absmax), of width/RMS of the layer's weights (×RMS) and of the "
    "absolute width (weight units, comparable with an absolute noise std); per-layer means and exact medians are in "
    "results.json details (medians only per layer: an exact overall median would hold every layer's widths at once). "
    "Flip rate = weights whose code differs between the variant and the baseline quantized the same way, over the "
    "weights analysed (exact count, no sampling). A quantized variant's codes are read from its layers and the "
    "baseline's weights are quantized with the same quantizer and block size; a dense variant and the baseline are "
    "both quantized with the metric's quantizer parameter. Layers are processed one at a time in float32.";

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const BoxParams& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  using qrun::Better;
  c10::InferenceMode guard;
  if (!in.baseline) return qrun::Error{"quantization_box", "no baseline model", "report this as a bug",
                                       qrun::ErrorCode::internal};
  const qrun::Model& base = *in.baseline;
  if (p.quantizer == "nf4" || p.quantizer == "fp4")
    QRUN_TRY(qrun::quant::check_blocksize_4bit(p.blocksize, "quantization_box.blocksize"));
  qrun::box_gguf::Cache gguf_cache;  // ggml box statistics per (layer, type, imatrix)
  const c10::ScalarType storage = qrun::to_scalar_type(base.storage_dtype());

  // Box statistics depend only on the baseline and the quantizer: computed once per quantizer.
  std::map<std::string, std::vector<LayerBoxStats>> box_cache;
  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"quantization_box", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
    if (qrun::box_gguf::has_gguf_layers(*v.model) || qrun::box_gguf::is_ggml_type(p.quantizer)) {
      auto r = qrun::box_gguf::evaluate_variant({p.quantizer, p.exclude, p.imatrix, p.box_rows, p.certify_draws}, base, v,
                                                gguf_cache, ctx);
      if (!r) return r.error();
      results.push_back(std::move(*r));
      continue;
    }
    auto plan = plan_variant(p, v);
    if (!plan) return plan.error();
    for (const std::string& name : plan->layers)
      if (!has_layer(base, name))
        return qrun::Error{"quantization_box variant " + v.name, "layer " + name + " is not in the baseline",
                           "compare variants of the same architecture"};
    const std::string key = spec_key(plan->spec);
    if (!box_cache.count(key)) {
      std::vector<LayerBoxStats> stats;
      auto progress = ctx.progress("quantization boxes, " + key, static_cast<std::int64_t>(plan->layers.size()));
      for (const std::string& name : plan->layers) {
        auto s = layer_box_stats(name, base.linear(name).weight(storage), plan->spec);
        if (!s) return s.error();
        stats.push_back(std::move(*s));
        progress->advance();
      }
      box_cache[key] = std::move(stats);
    }
    const std::vector<LayerBoxStats>& stats = box_cache[key];
    if (stats.size() != plan->layers.size())
      return qrun::Error{"quantization_box variant " + v.name, "analyses other layers than an earlier variant with " + key,
                         "quantize every variant's layers alike (same include/exclude)"};

    qrun::quant::FlipCount total;
    qrun::RunningStats width, rel_absmax, rel_rms;
    std::int64_t held = 0;
    nlohmann::json layers = nlohmann::json::array();
    for (std::size_t i = 0; i < plan->layers.size(); ++i) {
      const std::string& name = plan->layers[i];
      const LayerBoxStats& s = stats[i];
      if (s.name != name)
        return qrun::Error{"quantization_box variant " + v.name, "analyses other layers than an earlier variant with " + key,
                           "quantize every variant's layers alike (same include/exclude)"};
      auto base_codes = qrun::quant::weight_codes(base.linear(name).weight(storage), plan->spec, "baseline " + name);
      if (!base_codes) return base_codes.error();
      at::Tensor var_codes;
      if (plan->from_variant) {
        auto c = qrun::quant::layer_codes(v.model->linear(name), v.name + " " + name);
        if (!c) return c.error();
        var_codes = (**c).codes;
      } else {
        const c10::ScalarType vs = qrun::to_scalar_type(v.model->storage_dtype());
        auto c = qrun::quant::weight_codes(v.model->linear(name).weight(vs), plan->spec, v.name + " " + name);
        if (!c) return c.error();
        var_codes = *c;
      }
      auto flips = qrun::quant::count_flips(*base_codes, var_codes, v.name + " " + name);
      if (!flips) return flips.error();
      total.flipped += flips->flipped;
      total.n += flips->n;
      width.merge(s.width);
      rel_absmax.merge(s.rel_absmax);
      rel_rms.merge(s.rel_rms);
      held += s.held;
      layers.push_back({{"name", name},
                        {"weights", s.weights},
                        {"flipped", flips->flipped},
                        {"flip_rate_pct", 100.0 * flips->rate()},
                        {"held_absmax", s.held},
                        {"width_rel_absmax_mean", s.rel_absmax.mean()},
                        {"width_rel_absmax_median", s.rel_absmax_median},
                        {"width_rel_rms_mean", s.rel_rms.mean()},
                        {"width_rel_rms_median", s.rel_rms_median},
                        {"width_mean", s.width.mean()},
                        {"width_median", s.width_median}});
    }
    qrun::MetricResult r;
    const std::int64_t n = total.n;
    r.values = {
        // flip rate = weights with a different code than the baseline's / weights analysed, in %
        {"flip_rate", 100.0 * total.rate(), std::nullopt, n, "%", Better::none, ""},
        {"flipped_weights", static_cast<double>(total.flipped), std::nullopt, n, "", Better::none, ""},
        {"box_width_rel_absmax_mean", rel_absmax.mean(), std::nullopt, rel_absmax.n(), "×absmax", Better::none, ""},
        {"box_width_rel_rms_mean", rel_rms.mean(), std::nullopt, rel_rms.n(), "×RMS", Better::none, ""},
        {"box_width_mean", width.mean(), std::nullopt, width.n(), "", Better::none, ""},
    };
    r.details = {{"quantizer", key},
                 {"method", std::string(qrun::quant::to_string(plan->spec.method))},
                 {"quantizer_source", plan->from_variant ? "the variant's quantized layers" : "the metric's quantizer parameter"},
                 {"weights", n},
                 {"held_absmax", held},
                 {"layers_analysed", static_cast<std::int64_t>(plan->layers.size())},
                 {"layers_skipped", plan->skipped},
                 {"layers", layers}};
    if (plan->spec.method != BoxMethod::int8) r.details["blocksize"] = plan->spec.blocksize;
    r.method = kMethod;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("quantization_box", "0.1.0",
            qrun::metric("quantization_box", schema, spec,
                         "Quantization-box widths of the baseline's weights and the flip rate of each variant's codes",
                         evaluate));
