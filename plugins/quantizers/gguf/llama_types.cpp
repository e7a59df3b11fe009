// llama.cpp's per-tensor type policy (ggml-org/llama.cpp src/llama-quant.cpp, tensor_type_fallback).
#include "llama_types.hpp"

namespace qrun::gguf {

std::optional<GgmlType> fallback_type(GgmlType target, std::int64_t ncols) {
  if (ncols % traits(target).block_size == 0) return target;
  GgmlType fallback;
  switch (target) {
    case GgmlType::iq1_s: case GgmlType::iq1_m: case GgmlType::iq2_xxs: case GgmlType::iq2_xs:
    case GgmlType::iq2_s: case GgmlType::iq3_xxs: case GgmlType::iq3_s: case GgmlType::iq4_xs:
      fallback = GgmlType::iq4_nl;
      break;
    case GgmlType::q2_0: case GgmlType::q2_K: case GgmlType::q3_K: case GgmlType::tq1_0: case GgmlType::tq2_0:
      fallback = GgmlType::q4_0;
      break;
    case GgmlType::q4_K: fallback = GgmlType::q5_0; break;
    case GgmlType::q5_K: fallback = GgmlType::q5_1; break;
    case GgmlType::q6_K: fallback = GgmlType::q8_0; break;
    default: return std::nullopt;
  }
  return ncols % traits(fallback).block_size == 0 ? fallback : GgmlType::f16;
}

}  // namespace qrun::gguf
