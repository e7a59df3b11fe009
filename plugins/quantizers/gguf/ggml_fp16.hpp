// Scalar conversions ggml's quantizers use, reproduced bit for bit (ggml-org/ggml, commit d99724f2):
//   fp32 <-> fp16   ggml_compute_fp32_to_fp16 / ggml_compute_fp16_to_fp32 (src/ggml-impl.h), the
//                   bit manipulations of Maratyszcza/FP16: round to nearest even, subnormals kept,
//                   NaN -> 0x7E00 (sign kept); exact in the other direction.
//   e8m0 (halved)   ggml_e8m0_to_fp32_half (src/ggml-impl.h): 2^(e-128), MXFP4's block scale.
//   nearest_int     nearest_int (src/ggml-quants.c): adding 1.5 * 2^23 makes the float unit do the
//                   rounding (round half to even); valid for |x| <= 4194303.
// Everything is float32 arithmetic; no FMA (the sources are built with -ffp-contract=off).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace qrun::gguf {

using ggml_half = std::uint16_t;

inline float fp16_to_fp32(ggml_half h) {
  // fp16 bits in the top half of a word; normal values are rebased by exponent arithmetic
  // (2^-112 scale), subnormals come from a float with the bits as mantissa minus 0.5.
  const std::uint32_t w = static_cast<std::uint32_t>(h) << 16;
  const std::uint32_t sign = w & 0x80000000u;
  const std::uint32_t two_w = w + w;
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;
  const std::uint32_t magnitude =
      two_w < (1u << 27) ? std::bit_cast<std::uint32_t>(denormalized) : std::bit_cast<std::uint32_t>(normalized);
  return std::bit_cast<float>(sign | magnitude);
}

inline ggml_half fp32_to_fp16(float f) {
  // |f| scaled up by 2^112 then down by 2^-110 overflows to inf exactly where fp16 does; adding a
  // power of two whose ulp equals the fp16 ulp at f's exponent rounds the mantissa (to even).
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const std::uint32_t w = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t shl1_w = w + w;
  const std::uint32_t sign = w & 0x80000000u;
  std::uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = std::bit_cast<float>((bias >> 1) + 0x07800000u) + base;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(base);
  const std::uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const std::uint32_t mantissa_bits = bits & 0x00000FFFu;
  const std::uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<ggml_half>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// 2^(e - 128): half of the E8M0 value 2^(e - 127); e = 0 and 1 are the subnormals 2^-128, 2^-127.
inline float e8m0_to_fp32_half(std::uint8_t e) {
  const std::uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<std::uint32_t>(e - 1) << 23);
  return std::bit_cast<float>(bits);
}

// Round to nearest, ties to even, through the float adder (ggml's nearest_int).
inline int nearest_int(float x) {
  const float shifted = x + 12582912.f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  const std::int32_t bits = std::bit_cast<std::int32_t>(shifted);
  return (bits & 0x007fffff) - 0x00400000;
}

// fp32 -> bf16 as ggml_compute_fp32_to_bf16 (round to nearest even; NaN kept quiet); bf16 -> fp32 exact.
inline std::uint16_t fp32_to_bf16(float f) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 64u);
  return static_cast<std::uint16_t>((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}
inline float bf16_to_fp32(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

}  // namespace qrun::gguf
