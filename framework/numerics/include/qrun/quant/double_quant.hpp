// bitsandbytes' 8-bit blockwise quantization with the dynamic map, and the "double quant"
// (compress_statistics=True) of 4-bit absmax values built on it:
//  - quantize_blockwise (functional.py; CUDA kQuantizeBlockwise<General8bit>): per block of
//    `blocksize` values absmax2 = max |x| (float32), x * (1.0f / absmax2) rounded to the nearest
//    code of create_dynamic_map(signed=True) by dQuantize<0> (codebook.hpp);
//  - dequantize_blockwise: code[q] * absmax2 in float32;
//  - quantize_4bit with compress_statistics: offset = absmax.mean() (float32, torch's mean on the
//    tensor's device), absmax - offset quantized blockwise with blocksize 256;
//    dequantize_4bit: dequantize_blockwise(...) + offset (float32).
#pragma once

#include <qrun/quant/codebook.hpp>

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace qrun::quant {

inline constexpr std::int64_t kDoubleQuantBlocksize = 256;

struct Blockwise8bit {
  at::Tensor codes;   // uint8, same number of elements as the input (flat)
  at::Tensor absmax;  // float32 [ceil(n / blocksize)]
  std::int64_t blocksize = kDoubleQuantBlocksize;
};

// x: a float32 tensor (flattened row-major). `code` is the 256-entry ascending map.
Blockwise8bit quantize_blockwise_8bit(const at::Tensor& x, const std::array<float, 256>& code,
                                      std::int64_t blocksize);
// code[q] * absmax (float32), flat.
at::Tensor dequantize_blockwise_8bit(const Blockwise8bit& q, const std::array<float, 256>& code);

// The quantized 4-bit absmax: nested codes + nested absmax + the mean taken out.
struct DoubleQuantAbsmax {
  Blockwise8bit nested;           // codes uint8 [blocks], absmax float32 [ceil(blocks / 256)]
  float offset = 0.0f;            // mean of the original absmax (float32)
  // The map the codes index (QuantState.state2.code): dynamic_map_signed() when quantized here,
  // the checkpoint's nested_quant_map when loaded (torch versions may differ in its last ulp).
  std::array<float, 256> map = dynamic_map_signed();
};

DoubleQuantAbsmax double_quantize_absmax(const at::Tensor& absmax_f32);
// dequantize_blockwise(codes, nested absmax, dynamic map) + offset, float32 [blocks].
at::Tensor double_dequantize_absmax(const DoubleQuantAbsmax& dq);

}  // namespace qrun::quant
