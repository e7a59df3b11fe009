// quantization_box for ggml types (llama.cpp's GGUF quantization, the `gguf` quantizer's linear
// kind): boxes from plugins/quantizers/gguf/ggml_box.hpp (exact for the absmax / min-max types,
// certified by re-quantization for k-quants, iq4 and imatrix paths), and the flip rate: the share
// of weights whose dequantized value (code or block scales) differs between the variant and the
// baseline quantized the same way, per layer with the variant layer's own type (a mix such as
// Q4_K_M gives layers of several types).
#pragma once

#include <qrun/plugin.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qrun::box_gguf {

struct Params {
  std::string quantizer;             // a ggml type name for dense variants ("q4_K"), else not a ggml type
  std::vector<std::string> exclude;  // dense variants: layers left out
  std::string imatrix;               // safetensors, one float32 [in] per layer ("" none)
  std::int64_t box_rows = 4;         // rows per layer whose boxes are computed (evenly spaced; 0: all)
  std::int64_t certify_draws = 1024; // certified boxes: clean draws per unit (ggml_box.hpp BoxOptions)
};

// Whether the metric takes the ggml path for this variant: its quantizer parameter is a ggml type
// name, or the variant has layers of kind "gguf".
bool is_ggml_type(const std::string& quantizer);
bool has_gguf_layers(const Model& m);

// Box statistics of one baseline layer under one type, computed once per (layer, type, imatrix).
struct LayerStats;
using Cache = std::map<std::string, std::shared_ptr<LayerStats>>;

Result<MetricResult> evaluate_variant(const Params& p, const Model& base, const VariantModel& v, Cache& cache,
                                      RunContext& ctx);

// The metric's method text for the ggml path.
extern const char* const kMethod;

}  // namespace qrun::box_gguf
