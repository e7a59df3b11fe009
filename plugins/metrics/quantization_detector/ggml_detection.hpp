// quantization_detector for ggml types: are a model's linear weights dequantized GGUF weights?
// Each layer's weight (as float32, compared in the model's storage dtype) is re-quantized per ggml
// type (plugins/quantizers/gguf/ggml_detect.hpp); a layer is flagged with the type reproducing the
// most of its blocks when that share reaches the threshold; the model is dequantized GGUF when at
// least half of the tested layers are flagged (a Q4_K_M file leaves some layers f16).
#pragma once

#include <qrun/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qrun::detect_gguf {

struct Layer {
  std::string name;
  std::int64_t rows = 0, cols = 0;
  std::optional<std::string> type;  // the flagged type
  std::string best;                 // the type with the highest share (flagged or not)
  double rate = 0.0;                // its share of reproduced blocks
};

struct Report {
  std::vector<Layer> layers;  // tested layers (rows of whole 32-value blocks)
  std::int64_t flagged = 0;
  bool dequantized = false;
  std::string verdict() const;  // "dequantized GGUF (q4_K 12, q6_K 2 layers)" / "no evidence (...)"
};

// `max_rows` > 0: at most that many rows per layer, evenly spaced; `threshold`: ggml_detect.hpp's.
Result<Report> detect(const Model& m, std::int64_t max_rows, double threshold);

nlohmann::json layer_rows(const Report& r);
extern const char* const kRule;

}  // namespace qrun::detect_gguf
