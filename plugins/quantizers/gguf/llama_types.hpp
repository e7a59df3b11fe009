// llama.cpp's per-tensor type policy (ggml-org/llama.cpp src/llama-quant.cpp), the parts qrun uses.
#pragma once

#include "ggml_types.hpp"

#include <cstdint>
#include <optional>

namespace qrun::gguf {

// tensor_type_fallback: the type a tensor with rows of `ncols` values gets when `target`'s block
// size does not divide its rows (llama-quantize warns and falls back): q2_K, q3_K -> q4_0;
// q4_K -> q5_0; q5_K -> q5_1; q6_K -> q8_0; iq4_xs -> iq4_nl; f16 when the fallback's 32-value
// blocks do not fit either. `target` itself when its blocks fit; nullopt when llama.cpp has no
// fallback (a 32-value block type on rows that are not a multiple of 32: it stops with an error).
std::optional<GgmlType> fallback_type(GgmlType target, std::int64_t ncols);

}  // namespace qrun::gguf
