// safetensors dtype names <-> torch scalar types (the subset qrun reads and writes).
#pragma once

#include <c10/core/ScalarType.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qrun {

struct SafetensorsDType {
  std::string_view name;   // as in the header
  c10::ScalarType scalar;
  std::uint64_t bytes;     // per element
};

inline constexpr std::array<SafetensorsDType, 10> kSafetensorsDTypes{{
    {"F64", c10::ScalarType::Double, 8},
    {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},
    {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},
    {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},
    {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},
    {"BOOL", c10::ScalarType::Bool, 1},
}};

inline std::optional<SafetensorsDType> safetensors_dtype(std::string_view name) {
  for (const auto& d : kSafetensorsDTypes)
    if (d.name == name) return d;
  return std::nullopt;
}

inline std::optional<std::string> safetensors_dtype_name(c10::ScalarType t) {
  for (const auto& d : kSafetensorsDTypes)
    if (d.scalar == t) return std::string(d.name);
  return std::nullopt;
}

}  // namespace qrun
