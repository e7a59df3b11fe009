// bitsandbytes' blockwise 4-bit quantization (NF4/FP4), reproduced bit for bit:
// quantize_4bit / dequantize_4bit (bitsandbytes/functional.py) with the CUDA kernels
// kQuantizeBlockwise / kDequantizeBlockwise4bit (csrc/kernels.cu):
//  - the tensor is flattened row-major and cut into blocks of `blocksize` consecutive values
//    (the last block may be partial);
//  - absmax[b] = max |x| over the block, in float32;
//  - each value is normalised as float(x) * (1.0f / absmax[b]) (a float32 reciprocal, then a
//    float32 product) and rounded with dQuantizeNF4 / dQuantizeFP4 (codebook.hpp);
//    an all-zero block gives 1/0 = inf, 0 * inf = NaN, code 0;
//  - two codes per byte, the first element in the HIGH nibble; an odd count pads a 0 low nibble;
//    the packed tensor is uint8 [(n + 1) / 2, 1] as Params4bit stores it;
//  - dequantize: code_book[code] * absmax[b] in float32, then cast to the requested dtype.
// Every function here is pure: tensors in, tensors out, on the input's device (CPU loops).
#pragma once

#include <qrun/error.hpp>
#include <qrun/quant/codebook.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::quant {

inline constexpr std::int64_t kDefaultBlocksize4bit = 64;

struct Packed4bit {
  at::Tensor packed;                 // uint8 [(n + 1) / 2, 1]
  at::Tensor absmax;                 // float32 [ceil(n / blocksize)]
  std::vector<std::int64_t> shape;   // the original tensor's shape
  std::int64_t blocksize = kDefaultBlocksize4bit;
  FourBit type = FourBit::nf4;
  c10::ScalarType dtype = c10::ScalarType::Float;  // the original dtype (dequantize's default)
  std::int64_t numel() const;
};

// Checks bitsandbytes' accepted block sizes: a power of two in [64, 4096].
Result<void> check_blocksize_4bit(std::int64_t blocksize, const std::string& thing);
// Refuses NaN/Inf, naming `name` and the first bad flat index.
Result<void> check_finite(const at::Tensor& t, const std::string& name);

// Per-block absmax of a flat float32 tensor (last block partial), float32 [blocks].
at::Tensor blockwise_absmax(const at::Tensor& flat_f32, std::int64_t blocksize);
// Unpacked codes (uint8 [n], one per element) of a flat float32 tensor given its block absmax.
at::Tensor quantize_4bit_codes(const at::Tensor& flat_f32, const at::Tensor& absmax, std::int64_t blocksize,
                               FourBit type);
// Two codes per byte, first in the high nibble: uint8 [n] -> uint8 [(n + 1) / 2, 1].
at::Tensor pack_4bit(const at::Tensor& codes);
// Inverse of pack_4bit: uint8 packed (any shape) -> uint8 [n].
at::Tensor unpack_4bit(const at::Tensor& packed, std::int64_t n);

// Quantizes `w` (float32/float16/bfloat16, any shape, finite). `name` names it in errors.
Result<Packed4bit> quantize_4bit(const at::Tensor& w, FourBit type, std::int64_t blocksize,
                                 const std::string& name);
// code_book[code] * absmax (float32) per element, reshaped to `shape`, cast to `dtype`.
at::Tensor dequantize_4bit_codes(const at::Tensor& codes, const at::Tensor& absmax, std::int64_t blocksize,
                                 FourBit type, const std::vector<std::int64_t>& shape, c10::ScalarType dtype);
// Unpacks and dequantizes (absmax given in float32, e.g. after double-quant reconstruction).
at::Tensor dequantize_4bit(const Packed4bit& q, c10::ScalarType dtype);

}  // namespace qrun::quant
