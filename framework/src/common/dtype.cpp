// Named dtypes (qrun/dtype.hpp): spelling, parsing and the mapping to torch scalar types.
#include <qrun/dtype.hpp>

#include <array>
#include <stdexcept>
#include <utility>

namespace qrun {

std::string_view to_string(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::int8: return "int8";
    case DType::u8: return "uint8";
  }
  return "unknown";
}

std::optional<DType> parse_dtype(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, DType>, 10> kNames = {{
      {"float32", DType::f32}, {"fp32", DType::f32}, {"f32", DType::f32},
      {"float16", DType::f16}, {"fp16", DType::f16}, {"f16", DType::f16},
      {"bfloat16", DType::bf16}, {"bf16", DType::bf16},
      {"int8", DType::int8}, {"uint8", DType::u8},
  }};
  for (const auto& [spelling, dtype] : kNames) {
    if (spelling == name) return dtype;
  }
  return std::nullopt;  // includes "auto", which is a backend option, not a dtype
}

c10::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::f32: return c10::ScalarType::Float;
    case DType::f16: return c10::ScalarType::Half;
    case DType::bf16: return c10::ScalarType::BFloat16;
    case DType::int8: return c10::ScalarType::Char;
    case DType::u8: return c10::ScalarType::Byte;
  }
  throw std::invalid_argument("unknown DType " + std::to_string(static_cast<int>(d)));
}

std::optional<DType> from_scalar_type(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return DType::f32;
    case c10::ScalarType::Half: return DType::f16;
    case c10::ScalarType::BFloat16: return DType::bf16;
    case c10::ScalarType::Char: return DType::int8;
    case c10::ScalarType::Byte: return DType::u8;
    default: return std::nullopt;
  }
}

int bits_per_element(DType d) {
  switch (d) {
    case DType::f32: return 32;
    case DType::f16:
    case DType::bf16: return 16;
    case DType::int8:
    case DType::u8: return 8;
  }
  return 0;
}

}  // namespace qrun
