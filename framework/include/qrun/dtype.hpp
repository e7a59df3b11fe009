// Named dtypes. Every Model states its storage and compute dtype; casts are written out.
#pragma once

#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <string_view>

namespace qrun {

enum class DType {
  f32,   // "float32"
  f16,   // "float16"
  bf16,  // "bfloat16"
  int8,  // "int8"   (LLM.int8 row-wise codes)
  nf4,   // "nf4"    (bitsandbytes NormalFloat4, two codes per byte)
  fp4,   // "fp4"    (bitsandbytes FP4 e2m1, two codes per byte)
  u8,    // "uint8"  (raw bytes, e.g. packed 4-bit storage)
};

// "float32", "float16", "bfloat16", "int8", "nf4", "fp4", "uint8".
std::string_view to_string(DType d);
// Accepts the names above plus "fp32", "fp16", "bf16", "f32", "f16" and "auto" is not a dtype (nullopt).
std::optional<DType> parse_dtype(std::string_view name);
// f32/f16/bf16/int8/u8 map to torch; nf4/fp4 have no torch scalar type (throws std::invalid_argument).
c10::ScalarType to_scalar_type(DType d);
std::optional<DType> from_scalar_type(c10::ScalarType t);
// Bits per stored element (4 for nf4/fp4).
int bits_per_element(DType d);

}  // namespace qrun
