// quantization_detector for ggml types (see ggml_detection.hpp).
#include "ggml_detection.hpp"

#include <ggml_detect.hpp>

#include <ATen/ATen.h>

#include <map>

namespace qrun::detect_gguf {
namespace gg = qrun::gguf;

const char* const kRule =
    "GGUF: every linear weight whose rows are whole 32-value blocks is re-quantized per ggml type (q2_K..q8_0, "
    "iq4_nl, iq4_xs, mxfp4; byte-exact to ggml d99724f2) without an importance matrix and with a uniform one, and "
    "dequantized; a block matches when either gives back its values bit for bit (after rounding to the model's "
    "storage dtype when that is float16/bfloat16); all-zero blocks are not counted. A layer is flagged with the "
    "type matching the largest share of its blocks (the coarsest on ties) when the share reaches the threshold; "
    "the model counts as dequantized GGUF when at least half of the tested layers are flagged. Float weights match "
    "in no block.";

std::string Report::verdict() const {
  std::map<std::string, int> by_type;
  for (const Layer& l : layers)
    if (l.type) ++by_type[*l.type];
  std::string types;
  for (const auto& [t, n] : by_type) types += (types.empty() ? "" : ", ") + t + " " + std::to_string(n);
  const std::string counts = std::to_string(flagged) + " of " + std::to_string(layers.size()) + " layers flagged";
  return dequantized ? "dequantized GGUF (" + types + "; " + counts + ")" : "no GGUF evidence (" + counts + ")";
}

Result<Report> detect(const Model& m, std::int64_t max_rows, double threshold) {
  Report r;
  const c10::ScalarType st = to_scalar_type(m.storage_dtype());
  const gg::Storage storage = st == at::kHalf ? gg::Storage::f16 : st == at::kBFloat16 ? gg::Storage::bf16 : gg::Storage::f32;
  for (const std::string& name : m.linear_names()) {
    const LinearImpl& l = m.linear(name);
    if (l.in_features() % 32 != 0) continue;
    at::Tensor w = l.weight(st).to(at::kCPU, at::kFloat);
    if (max_rows > 0 && w.size(0) > max_rows)
      w = w.index_select(0, at::linspace(0, static_cast<double>(w.size(0) - 1), max_rows).to(at::kLong));
    w = w.contiguous();
    const gg::MatrixDetection d = gg::detect_matrix(w.data_ptr<float>(), w.size(0), w.size(1), 1, threshold, storage);
    Layer layer{name, l.out_features(), l.in_features(), std::nullopt, "", d.rate};
    double best = -1;
    for (const gg::TypeMatch& t : d.matches)
      if (t.blocks > 0 && t.rate() > best) best = t.rate(), layer.best = gg::type_name(t.type);
    if (d.type) layer.type = gg::type_name(*d.type), ++r.flagged;
    r.layers.push_back(std::move(layer));
  }
  r.dequantized = !r.layers.empty() && 2 * r.flagged >= static_cast<std::int64_t>(r.layers.size());
  return r;
}

nlohmann::json layer_rows(const Report& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const Layer& l : r.layers)
    rows.push_back({{"name", l.name}, {"flagged", l.type.has_value()}, {"type", l.type ? nlohmann::json(*l.type) : nlohmann::json()},
                    {"best", l.best}, {"block_match_rate", l.rate}});
  return rows;
}

}  // namespace qrun::detect_gguf
