// Named dtypes. Every Model states its storage and compute dtype; casts are written out.
// Quantization formats (nf4, int3 with groups, ggml blocks, ...) are not dtypes: a quantized
// layer describes its storage in StorageInfo (qrun/linear.hpp).
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
  int8,  // "int8"
  u8,    // "uint8"  (raw bytes, e.g. packed codes)
};

// "float32", "float16", "bfloat16", "int8", "uint8".
std::string_view to_string(DType d);
// Accepts the names above plus "fp32", "fp16", "bf16", "f32", "f16" and "auto" is not a dtype (nullopt).
std::optional<DType> parse_dtype(std::string_view name);
// Every DType maps to a torch scalar type.
c10::ScalarType to_scalar_type(DType d);
std::optional<DType> from_scalar_type(c10::ScalarType t);
// Bits per stored element.
int bits_per_element(DType d);

}  // namespace qrun
