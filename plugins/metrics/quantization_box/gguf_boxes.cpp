// quantization_box for ggml types (see gguf_boxes.hpp).
#include "gguf_boxes.hpp"

#include <ggml_box.hpp>
#include <ggml_detect.hpp>
#include <ggml_types.hpp>
#include <llama_types.hpp>
#include <qrun/quant/layer_select.hpp>
#include <qrun/safetensors.hpp>
#include <qrun/stats.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>

namespace qrun::box_gguf {
namespace gg = qrun::gguf;

const char* const kMethod =
    "ggml types (llama.cpp's GGUF quantization, byte-exact to ggml d99724f2): boxes from the gguf plugin's "
    "ggml_box.hpp. Exact boxes (q4_0 q4_1 q5_0 q5_1 without imatrix, q8_0, mxfp4): the block's scale is set by its "
    "extreme element(s), which are frozen (held); every other weight's interval keeps its code while staying within "
    "the extremes, its ends found by bisection on float32 values re-quantizing the block with ggml's code (exact to "
    "one float32). Certified boxes (k-quants, iq4_nl, iq4_xs, the legacy types with an imatrix), after Egashira et "
    "al., \"Mind the Gap\" (ICML 2025): each weight's interval runs to its dequantized value; sub-block extremes and "
    "the sub-blocks setting the fp16 super-block scales are frozen; draws inside the boxes (structured corners, "
    "random corners, uniform) are re-quantized and the weights whose dequantized value changed have their boxes "
    "halved (frozen after 6 halvings), until `certify_draws` consecutive draws keep every block's bytes; the boxes are "
    "then halved once more and certified again. Boxes are computed on `box_rows` evenly spaced rows per layer; held "
    "weights are left out of the width statistics (width = hi - lo; relative to the absmax of the weight's "
    "sub-block, and to the layer's RMS). Flip rate: weights whose integer code (the 2-8 bit level ggml stores, "
    "without the block scales, as for bitsandbytes) differs between the variant and the baseline quantized with the "
    "variant layer's type (and the imatrix parameter when the layer was quantized with one), over all weights of the "
    "layers analysed (exact count); details also give the share whose dequantized value changed (codes or scales: "
    "noise on a block's extreme element moves its fp16 scale and so every value of the block).";

bool is_ggml_type(const std::string& quantizer) {
  const auto t = gg::parse_type(quantizer);
  return t && gg::traits(*t).implemented && t != gg::GgmlType::f32 && t != gg::GgmlType::f16 && t != gg::GgmlType::bf16;
}

bool has_gguf_layers(const Model& m) {
  for (const std::string& name : m.linear_names())
    if (m.linear(name).kind() == "gguf") return true;
  return false;
}

struct LayerStats {
  std::string type;
  std::string kind;  // "exact" / "certified"
  std::int64_t boxed = 0, held = 0;
  RunningStats width, rel_absmax, rel_rms;
};

namespace {

// A layer's quantization as the metric uses it: type, imatrix flag, ggml blocks of [out, in].
struct Quantized {
  gg::GgmlType type;
  bool imatrix = false;
  std::vector<std::uint8_t> bytes;  // out * row_size
};

at::Tensor float_matrix(const LinearImpl& l) { return l.weight(at::kFloat).to(at::kCPU).contiguous(); }

at::Tensor dequantize(gg::GgmlType t, const std::vector<std::uint8_t>& bytes, std::int64_t rows, std::int64_t cols) {
  at::Tensor out = at::empty({rows, cols}, at::kFloat);
  gg::dequantize_values(t, bytes.data(), out.data_ptr<float>(), rows * cols);
  return out;
}

at::Tensor codes_of(gg::GgmlType t, const std::vector<std::uint8_t>& bytes, std::int64_t rows, std::int64_t cols) {
  at::Tensor out = at::empty({rows, cols}, at::kByte);
  gg::unpack_codes(t, bytes.data(), rows * cols, out.data_ptr<std::uint8_t>());
  return out;
}

std::vector<std::uint8_t> quantize(gg::GgmlType t, const at::Tensor& w, const float* im) {
  const std::int64_t rows = w.size(0), cols = w.size(1);
  const std::size_t n = gg::row_size(t, cols) * static_cast<std::size_t>(rows);
  std::vector<std::uint16_t> words((n + 1) / 2);  // quantize_rows wants 2-byte alignment
  gg::quantize_rows(t, w.data_ptr<float>(), words.data(), rows, cols, im);
  const auto* p = reinterpret_cast<const std::uint8_t*>(words.data());
  return std::vector<std::uint8_t>(p, p + n);
}

// The values a gguf layer holds, from its state's ggml blocks and its metadata's type.
Result<Quantized> gguf_layer(const LinearImpl& l, const std::string& where) {
  const nlohmann::json meta = l.metadata();
  const auto type = gg::parse_type(meta.value("type", std::string()));
  at::Tensor blocks;
  for (const auto& [k, t] : l.state())
    if (k == "weight") blocks = t;
  const std::int64_t rows = l.out_features(), cols = l.in_features();
  if (!type || !is_ggml_type(gg::type_name(*type)) || !blocks.defined() || blocks.scalar_type() != at::kByte ||
      cols % gg::traits(*type).block_size != 0 ||
      blocks.numel() != static_cast<std::int64_t>(gg::row_size(*type, cols)) * rows)
    return Error{where, "is a gguf layer without ggml blocks of a known type in its state", "report this as a bug",
                 ErrorCode::internal};
  const at::Tensor b = blocks.to(at::kCPU).contiguous();
  return Quantized{*type, meta.value("imatrix", false),
                   std::vector<std::uint8_t>(b.data_ptr<std::uint8_t>(), b.data_ptr<std::uint8_t>() + b.numel())};
}

// The importance vector of `layer` in the metric's imatrix file (named as the layer, the layer +
// ".weight", or llama.cpp's tensor name, as the gguf quantizer looks it up).
Result<std::vector<float>> imatrix_for(const Params& p, const std::string& layer, std::int64_t cols) {
  auto f = SafetensorsFile::open(p.imatrix);
  if (!f) return f.error().within("quantization_box.imatrix:");
  for (const std::string& name : {layer, layer + ".weight", gg::llama_tensor_name(layer)})
    for (const auto& e : f->entries())
      if (e.name == name) {
        auto t = f->load(name);
        if (!t) return t.error();
        const at::Tensor v = t->to(at::kFloat).contiguous().reshape({-1});
        if (v.numel() != cols)
          return Error{"quantization_box.imatrix " + name, "has " + std::to_string(v.numel()) + " values, the layer " +
                       std::to_string(cols) + " columns", "use the importance matrix the variant was quantized with"};
        return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
      }
  return Error{"quantization_box.imatrix", "has no entry for " + layer, "use the importance matrix the variant was quantized with"};
}

// Box statistics of the baseline's weight `w` under `t` on `box_rows` evenly spaced rows.
std::shared_ptr<LayerStats> box_stats(const Params& p, const at::Tensor& w, gg::GgmlType t, const float* im) {
  auto s = std::make_shared<LayerStats>();
  s->type = gg::type_name(t);
  s->kind = gg::to_string(gg::box_kind(t, im != nullptr));
  const std::int64_t rows = w.size(0), cols = w.size(1);
  const std::int64_t n = p.box_rows <= 0 ? rows : std::min(p.box_rows, rows);
  const double rms = w.to(at::kDouble).square().mean().sqrt().item<double>();
  gg::BoxOptions opt;
  opt.clean_draws = static_cast<int>(p.certify_draws);
  std::vector<float> lo(static_cast<std::size_t>(cols)), hi(lo.size());
  std::vector<std::uint8_t> held(lo.size());
  const int sub = gg::sub_block_size(t);
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t r = n > 1 ? k * (rows - 1) / (n - 1) : 0;
    const float* x = w.data_ptr<float>() + r * cols;
    opt.seed = static_cast<std::uint64_t>(r);
    gg::quantization_boxes(t, x, 1, cols, im, lo.data(), hi.data(), held.data(), opt);
    for (std::int64_t b0 = 0; b0 < cols; b0 += sub) {
      float amax = 0;
      for (std::int64_t i = b0; i < b0 + sub; ++i) amax = std::max(amax, std::fabs(x[i]));
      for (std::int64_t i = b0; i < b0 + sub; ++i) {
        ++s->boxed;
        if (held[i]) {
          ++s->held;
          continue;
        }
        const double width = static_cast<double>(hi[i]) - static_cast<double>(lo[i]);
        s->width.add(width);
        if (amax > 0) s->rel_absmax.add(width / amax);
        if (rms > 0) s->rel_rms.add(width / rms);
      }
    }
  }
  return s;
}

// The variant's quantization of one layer: its own gguf layer, or, for a dense variant, its weight
// quantized with the metric's type (llama.cpp's fallback for rows that are not whole blocks).
// nullopt: a layer the ggml path leaves out.
Result<std::optional<Quantized>> variant_layer(const Params& p, const VariantModel& v, const std::string& name,
                                               const std::vector<std::string>& dense_layers, bool quantized_variant,
                                               const std::vector<float>* im) {
  const LinearImpl& l = v.model->linear(name);
  if (quantized_variant) {
    if (l.kind() != "gguf") return std::optional<Quantized>();
    // llama.cpp's f16 fallback (rows that are not whole 32-value blocks): no quantization, no box.
    const auto t = gg::parse_type(l.metadata().value("type", std::string()));
    if (t && (*t == gg::GgmlType::f16 || *t == gg::GgmlType::f32 || *t == gg::GgmlType::bf16)) return std::optional<Quantized>();
    auto q = gguf_layer(l, v.name + " " + name);
    if (!q) return q.error();
    return std::optional<Quantized>(std::move(*q));
  }
  if (std::find(dense_layers.begin(), dense_layers.end(), name) == dense_layers.end()) return std::optional<Quantized>();
  const auto t = gg::fallback_type(*gg::parse_type(p.quantizer), l.in_features());
  if (!t || !is_ggml_type(gg::type_name(*t))) return std::optional<Quantized>();
  const at::Tensor w = float_matrix(l);
  return std::optional<Quantized>(Quantized{*t, im != nullptr, quantize(*t, w, im ? im->data() : nullptr)});
}

}  // namespace

Result<MetricResult> evaluate_variant(const Params& p, const Model& base, const VariantModel& v, Cache& cache,
                                      RunContext& ctx) {
  const bool quantized_variant = has_gguf_layers(*v.model);
  if (!quantized_variant && !is_ggml_type(p.quantizer))
    return Error{"quantization_box", "variant " + v.name + " took the ggml path without a ggml type", "report this as a bug",
                 ErrorCode::internal};
  std::vector<std::string> dense_layers;
  if (!quantized_variant) {
    auto sel = quant::select_layers(v.model->linear_names(), {}, p.exclude, "quantization_box.exclude");
    if (!sel) return sel.error();
    dense_layers = *sel;
  }
  const auto names = v.model->linear_names();
  const auto base_names = base.linear_names();
  std::int64_t flipped = 0, changed = 0, total = 0, held = 0, boxed = 0;
  RunningStats width, rel_absmax, rel_rms;
  std::map<std::string, std::int64_t> types;
  nlohmann::json layers = nlohmann::json::array(), skipped = nlohmann::json::array();
  auto progress = ctx.progress("quantization boxes (ggml), " + v.name, static_cast<std::int64_t>(names.size()));
  for (const std::string& name : names) {
    progress->advance();
    if (std::find(base_names.begin(), base_names.end(), name) == base_names.end())
      return Error{"quantization_box variant " + v.name, "layer " + name + " is not in the baseline",
                   "compare variants of the same architecture"};
    const std::int64_t cols = v.model->linear(name).in_features();
    std::optional<std::vector<float>> im;
    if (!p.imatrix.empty()) {
      auto vec = imatrix_for(p, name, cols);
      if (!vec) return vec.error();
      im = std::move(*vec);
    }
    auto q = variant_layer(p, v, name, dense_layers, quantized_variant, im ? &*im : nullptr);
    if (!q) return q.error();
    if (!*q) {
      skipped.push_back(name);
      continue;
    }
    const Quantized& var = **q;
    if (var.imatrix && !im)
      return Error{"quantization_box variant " + v.name, "layer " + name + " was quantized with an importance matrix",
                   "set quantization_box.imatrix to the file the variant used (safetensors, one float32 vector per layer)"};
    const float* imp = var.imatrix ? im->data() : nullptr;
    const at::Tensor w = float_matrix(base.linear(name));
    const std::int64_t rows = w.size(0);
    if (var.bytes.size() != gg::row_size(var.type, cols) * static_cast<std::size_t>(rows))
      return Error{"quantization_box variant " + v.name, "layer " + name + " has another shape than the baseline's",
                   "compare variants of the same architecture"};
    const std::vector<std::uint8_t> base_bytes = quantize(var.type, w, imp);
    // A flip: the integer code differs; a change: the dequantized value differs (float32 bits).
    const std::int64_t f = at::ne(codes_of(var.type, base_bytes, rows, cols), codes_of(var.type, var.bytes, rows, cols))
                               .sum().item<std::int64_t>();
    const std::int64_t c = at::ne(dequantize(var.type, base_bytes, rows, cols).view(at::kInt),
                                  dequantize(var.type, var.bytes, rows, cols).view(at::kInt)).sum().item<std::int64_t>();
    changed += c;
    const std::string key = name + "|" + gg::type_name(var.type) + (imp ? "|imatrix" : "");
    if (!cache.count(key)) cache[key] = box_stats(p, w, var.type, imp);
    const LayerStats& s = *cache[key];
    flipped += f;
    total += w.numel();
    held += s.held;
    boxed += s.boxed;
    width.merge(s.width);
    rel_absmax.merge(s.rel_absmax);
    rel_rms.merge(s.rel_rms);
    ++types[s.type];
    layers.push_back({{"name", name}, {"type", s.type}, {"box", s.kind}, {"weights", w.numel()}, {"flipped", f},
                      {"flip_rate_pct", 100.0 * static_cast<double>(f) / static_cast<double>(w.numel())},
                      {"value_change_rate_pct", 100.0 * static_cast<double>(c) / static_cast<double>(w.numel())},
                      {"weights_boxed", s.boxed}, {"held", s.held}, {"width_mean", s.width.mean()},
                      {"width_rel_absmax_mean", s.rel_absmax.mean()}, {"width_rel_rms_mean", s.rel_rms.mean()}});
  }
  MetricResult r;
  const double rate = total > 0 ? static_cast<double>(flipped) / static_cast<double>(total) : 0.0;
  r.values = {
      // flip rate = weights whose dequantized value differs from the baseline's / weights analysed, in %
      {"flip_rate", 100.0 * rate, std::nullopt, total, "%", Better::none, ""},
      {"flipped_weights", static_cast<double>(flipped), std::nullopt, total, "", Better::none, ""},
      {"box_width_rel_absmax_mean", rel_absmax.mean(), std::nullopt, rel_absmax.n(), "×absmax", Better::none, ""},
      {"box_width_rel_rms_mean", rel_rms.mean(), std::nullopt, rel_rms.n(), "×RMS", Better::none, ""},
      {"box_width_mean", width.mean(), std::nullopt, width.n(), "", Better::none, ""},
  };
  r.details = {{"quantizer", quantized_variant ? "the variant's gguf layers" : "ggml " + p.quantizer},
               {"method", "ggml"},
               {"types", types},
               {"weights", total},
               {"value_change_rate_pct", total > 0 ? 100.0 * static_cast<double>(changed) / static_cast<double>(total) : 0.0},
               {"weights_boxed", boxed},
               {"held", held},
               {"box_rows_per_layer", p.box_rows},
               {"certify_draws", p.certify_draws},
               {"layers_analysed", static_cast<std::int64_t>(layers.size())},
               {"layers_skipped", skipped},
               {"layers", layers}};
  r.method = kMethod;
  return r;
}

}  // namespace qrun::box_gguf
