// safetensors dtype names <-> torch scalar types (the subset qrun reads and writes).
//
// FP8 ("F8_E4M3" = torch.float8_e4m3fn, "F8_E5M2" = torch.float8_e5m2, 1 byte each) load as
// uint8 tensors holding the raw bytes, on every libtorch: 1.13 has no float8 types, and one
// representation keeps the quantizer plugins that decode them (plugins/quantizers/fp8/minifloat.hpp)
// free of version checks. The header name stays in TensorEntry::dtype. On writing, a uint8 tensor
// is "U8" unless the caller names it FP8 (write_safetensors' metadata convention,
// safetensors.cpp); with libtorch >= 2.1 a real float8 tensor is written under its own name.
#pragma once

#include <c10/core/ScalarType.h>
#include <torch/csrc/api/include/torch/version.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qrun {

struct SafetensorsDType {
  std::string_view name;   // as in the header
  c10::ScalarType scalar;  // the dtype of the loaded tensor
  std::uint64_t bytes;     // per element
};

// Order matters for safetensors_dtype_name: the first entry of a scalar type names it ("U8", not
// an FP8 name, for uint8).
inline constexpr std::array<SafetensorsDType, 12> kSafetensorsDTypes{{
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
    {"F8_E4M3", c10::ScalarType::Byte, 1},  // raw bytes (see the top of this file)
    {"F8_E5M2", c10::ScalarType::Byte, 1},
}};

inline bool is_fp8_dtype_name(std::string_view name) { return name == "F8_E4M3" || name == "F8_E5M2"; }

inline std::optional<SafetensorsDType> safetensors_dtype(std::string_view name) {
  for (const auto& d : kSafetensorsDTypes)
    if (d.name == name) return d;
  return std::nullopt;
}

inline std::optional<std::string> safetensors_dtype_name(c10::ScalarType t) {
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  if (t == c10::ScalarType::Float8_e4m3fn) return std::string("F8_E4M3");
  if (t == c10::ScalarType::Float8_e5m2) return std::string("F8_E5M2");
#endif
  for (const auto& d : kSafetensorsDTypes)
    if (d.scalar == t) return std::string(d.name);
  return std::nullopt;
}

}  // namespace qrun
