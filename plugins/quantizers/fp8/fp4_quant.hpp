// MXFP4 and NVFP4 weight quantization (header only; the mxfp4 and nvfp4 plugins and the tests).
//
// MXFP4, OCP Microscaling Formats (MX) Specification v1.0, section 6.3 (conversion of a block):
// blocks of 32 consecutive input columns; shared exponent e = floor(log2(max |v|)) - emax_elem
// with emax_elem = 2 for E2M1, stored as E8M0 (code e + 127, clamped to [0, 254]; an all-zero
// block gets code 0); elements P = E2M1(v / 2^e), round to nearest even, saturating at +-6 (so a
// block whose max has mantissa above 1.5 clips its largest elements to 6 * 2^e).
// (compressed-tensors rounds the block max to a nearby power of two before taking the exponent;
// qrun follows the specification.)
//
// NVFP4, NVIDIA's recipe as llm-compressor / compressed-tensors implement it (generate_gparam,
// calculate_qparams, the FP4 cast): global scale G = 448 * 6 / max |W| (float32; 1 for an all-zero
// tensor); blocks of 16 columns; block scale S = E4M3(clamp(G * (max|v| / 6), -448, 448)), a zero
// S replaced by 0.125 (the E4M3 eps there); elements E2M1(v / (S / G)), round to nearest even,
// saturating at +-6; dequantized v' = E2M1 value * (S / G). Arithmetic in float32.
#pragma once

#include "fp4_linear.hpp"

namespace qrun::minifloat {

struct Fp4Quantized {
  at::Tensor codes;   // [out, blocks * block] uint8 E2M1 codes
  at::Tensor scales;  // [out, blocks] uint8: E8M0 codes (MXFP4) or E4M3 bytes (NVFP4)
  at::Tensor global;  // [1] float32 (NVFP4), undefined for MXFP4
};

inline Fp4Quantized quantize_mxfp4(const at::Tensor& w) {
  const at::Tensor b = blocks_of(w.to(at::kFloat), 32);
  const at::Tensor amax = b.abs().amax(2);
  // floor(log2(a)) = frexp exponent - 1 for a > 0 (exact, subnormals included).
  at::Tensor e = std::get<1>(at::frexp(amax)).to(at::kLong) - 1 - 2;
  e = at::where(amax == 0, at::full_like(e, -127), e).clamp(-127, 127);
  const at::Tensor X = at::pow(2.0, e.to(at::kDouble)).to(at::kFloat);
  Fp4Quantized q;
  q.codes = encode(b / X.unsqueeze(2), kE2M1).reshape({w.size(0), -1});
  q.scales = (e + 127).to(at::kByte);
  return q;
}

inline Fp4Quantized quantize_nvfp4(const at::Tensor& w) {
  const at::Tensor w32 = w.to(at::kFloat);
  const at::Tensor amax = w32.abs().max().reshape({1});
  const at::Tensor G = at::where(amax == 0, at::ones_like(amax), static_cast<float>(448.0 * 6.0) / amax);
  const at::Tensor b = blocks_of(w32, 16);
  const at::Tensor s = G * (b.abs().amax(2) / 6.0f);
  at::Tensor s8 = encode(s.clamp(-448, 448), kE4M3);
  s8 = at::where(decode(s8, kE4M3) == 0, at::full_like(s8, encode(0.125, kE4M3)), s8);
  const at::Tensor eff = decode(s8, kE4M3) / G;
  Fp4Quantized q;
  q.codes = encode(b / eff.unsqueeze(2), kE2M1).reshape({w.size(0), -1});
  q.scales = s8;
  q.global = G;
  return q;
}

}  // namespace qrun::minifloat
