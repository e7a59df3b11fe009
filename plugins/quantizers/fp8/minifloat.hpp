// Small floating-point formats as bytes (libtorch 1.13 has no float8 types): FP8 E4M3 ("e4m3fn":
// bias 7, no infinities, S.1111.111 is NaN, max 448), FP8 E5M2 (IEEE-style, bias 15, max 57344),
// FP4 E2M1 (bias 1, values 0, 0.5, 1, 1.5, 2, 3, 4, 6) as in the OCP 8-bit floating point
// specification (OFP8, 2023) and the OCP Microscaling Formats (MX) v1.0 specification, and the
// MX scale format E8M0 (2^(code - 127), 0xFF NaN).
// Encoding: round to nearest, ties to even, after saturating |x| to the format's largest finite
// value (what torch's x.clamp(-max, max).to(float8_e4m3fn) does; the cast alone would give NaN or
// inf); sign kept for zero. Used by the fp8, mxfp4 and nvfp4 plugins.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace qrun::minifloat {

struct Format {
  int ebits, mbits, bias;
  double max;  // largest finite value
};
inline constexpr Format kE4M3{4, 3, 7, 448.0};
inline constexpr Format kE5M2{5, 2, 15, 57344.0};
inline constexpr Format kE2M1{2, 1, 1, 6.0};

// x -> code (sign bit at ebits + mbits). NaN inputs give the format's NaN (E2M1 has none: 0).
inline std::uint8_t encode(double x, const Format& f) {
  const int nbits = f.ebits + f.mbits;
  const std::uint8_t sign = std::signbit(x) ? static_cast<std::uint8_t>(1u << nbits) : 0;
  if (std::isnan(x)) return f.ebits == 2 ? 0 : static_cast<std::uint8_t>(sign | ((1u << nbits) - 1));
  const double a = std::min(std::fabs(x), f.max);
  const int min_exp = 1 - f.bias;  // exponent of the smallest normal value
  std::uint32_t code;
  if (a < std::ldexp(1.0, min_exp)) {  // subnormal: multiples of 2^(min_exp - mbits); 2^mbits is the smallest normal
    code = static_cast<std::uint32_t>(std::nearbyint(std::ldexp(a, f.mbits - min_exp)));
  } else {
    int e = 0;
    (void)std::frexp(a, &e);  // a = fr 2^e, fr in [0.5, 1)
    int E = e - 1;
    auto mq = static_cast<std::uint32_t>(std::nearbyint(std::ldexp(std::ldexp(a, -E) - 1.0, f.mbits)));
    if (mq == (1u << f.mbits)) ++E, mq = 0;
    code = (static_cast<std::uint32_t>(E + f.bias) << f.mbits) | mq;
  }
  return static_cast<std::uint8_t>(sign | code);
}

inline double decode(std::uint8_t c, const Format& f) {
  const int nbits = f.ebits + f.mbits;
  const double sign = (c >> nbits) & 1 ? -1.0 : 1.0;
  const std::uint32_t e = (c >> f.mbits) & ((1u << f.ebits) - 1), m = c & ((1u << f.mbits) - 1);
  const std::uint32_t emax = (1u << f.ebits) - 1;
  if (f.ebits == 4 && e == emax && m == (1u << f.mbits) - 1) return std::nan("");  // e4m3fn NaN
  if (f.ebits == 5 && e == emax) return m == 0 ? sign * INFINITY : std::nan("");   // e5m2 inf / NaN
  if (e == 0) return sign * std::ldexp(static_cast<double>(m), 1 - f.bias - f.mbits);
  return sign * std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -f.mbits), static_cast<int>(e) - f.bias);
}

// Elementwise over a float32 tensor (CPU or not): uint8 codes of the same shape.
inline at::Tensor encode(const at::Tensor& x, const Format& f) {
  const at::Tensor src = x.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor out = at::empty(src.sizes(), at::TensorOptions().dtype(at::kByte));
  const float* p = src.data_ptr<float>();
  std::uint8_t* q = out.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < src.numel(); ++i) q[i] = encode(static_cast<double>(p[i]), f);
  return out.to(x.device());
}

// The 2^(ebits+mbits+1) values of a format as a float32 lookup table (on `device`); decode a code
// tensor with table.index_select(0, codes.flatten().to(kLong)).
inline at::Tensor table(const Format& f, c10::Device device) {
  const int n = 1 << (f.ebits + f.mbits + 1);
  at::Tensor t = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  for (int c = 0; c < n; ++c) t[c] = static_cast<float>(decode(static_cast<std::uint8_t>(c), f));
  return t.to(device);
}
inline at::Tensor decode(const at::Tensor& codes, const Format& f) {
  return table(f, codes.device()).index_select(0, codes.reshape({-1}).to(at::kLong)).reshape(codes.sizes());
}

// x -> the nearest value of `f` (round to nearest even, after saturating to +-max), with tensor
// ops on x's device, for activations in a forward (the same values as decode(encode(x, f), f) for
// finite x: within a binade [2^e, 2^(e+1)) the values are the multiples of 2^(e - mbits), below
// the smallest normal the multiples of 2^(1 - bias - mbits); x / step is exact in float32 and
// at::round rounds half to even). Computed in float32; returns float32.
inline at::Tensor fake_quantize(const at::Tensor& x, const Format& f) {
  const at::Tensor a = x.to(at::kFloat).abs().clamp_max(f.max);
  const at::Tensor e = at::floor(at::log2(a)).clamp_min(static_cast<double>(1 - f.bias));  // log2(0) = -inf
  const at::Tensor step = at::pow(2.0, e - f.mbits);
  return at::round(a / step) * step * at::sign(x.to(at::kFloat));
}

// E8M0 scale: 2^(code - 127); code 255 is NaN.
inline double decode_e8m0(std::uint8_t c) { return c == 255 ? std::nan("") : std::ldexp(1.0, static_cast<int>(c) - 127); }

// Two FP4 codes per byte, the element with the even index in the low nibble (OCP MX, compressed-
// tensors' pack_fp4_to_uint8). codes [rows, cols] (cols even) -> [rows, cols / 2] uint8.
inline at::Tensor pack_nibbles(const at::Tensor& codes) {
  const at::Tensor c = codes.to(at::kByte).reshape({codes.size(0), -1, 2});
  return c.select(2, 0).bitwise_or(c.select(2, 1).bitwise_left_shift(4)).contiguous();
}
inline at::Tensor unpack_nibbles(const at::Tensor& packed) {
  return at::stack({packed.bitwise_and(15), packed.bitwise_right_shift(4)}, 2).reshape({packed.size(0), -1});
}

}  // namespace qrun::minifloat
