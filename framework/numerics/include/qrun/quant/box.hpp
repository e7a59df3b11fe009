// Quantization boxes (Egashira et al., "Exploiting LLM Quantization", NeurIPS 2024, sec. 3-4):
// for a weight and a quantizer, the interval of full-precision values each weight may take while
// its quantized code stays the same, with the scale of its block (NF4/FP4) or row (LLM.int8)
// held fixed: the element holding the absmax is frozen and every other element must stay within
// [-absmax, absmax], exactly as the paper's box-constrained attack keeps the quantized model
// unchanged. Also the codes a quantizer gives a weight and the "flip rate" between two weights.
//
// Rounding is bitsandbytes' as reproduced in qrun (int8.hpp, blockwise4.hpp, codebook.hpp):
//  - int8: x16 = float16(w) (Int8Params casts to float16), scale = 127.0f / absmax16(row),
//    code = round_half_even(x16 * scale) in float32;
//  - nf4/fp4: inv = 1.0f / absmax(block) (float32), code = dQuantizeNF4/FP4(w * inv).
// Boxes are sets of float32 values. A weight stored in float16/bfloat16 is quantized from its
// exact float32 widening, so its box is the same set seen in float32.
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>
#include <qrun/quant/blockwise4.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qrun::quant {

enum class BoxMethod { int8, nf4, fp4 };
std::string_view to_string(BoxMethod m);                        // "int8", "nf4", "fp4"
std::optional<BoxMethod> parse_box_method(std::string_view s);  // inverse of to_string

// A quantizer as far as codes are concerned. The int8 outlier threshold and the 4-bit double
// quantization do not change weight codes (weights are quantized with threshold 0; double quant
// compresses the absmax after the codes are taken), so they are not part of it.
struct QuantizerSpec {
  BoxMethod method = BoxMethod::nf4;
  std::int64_t blocksize = kDefaultBlocksize4bit;  // nf4/fp4 only
  bool operator==(const QuantizerSpec& o) const {
    return method == o.method && (method == BoxMethod::int8 || blocksize == o.blocksize);
  }
};
// "int8 (row-wise absmax / 127)", "nf4 (blocksize 64)"
std::string describe(const QuantizerSpec& q);

// The codes the quantizer gives `w` (2-D [out, in], float32/float16/bfloat16, finite), computed by
// the quantizers' own functions (int8_quantize_weight, quantize_4bit): int8 -> int8 [out, in]
// (bitsandbytes' CB); nf4/fp4 -> uint8 [out, in], one unpacked code per weight. Errors name `name`.
Result<at::Tensor> weight_codes(const at::Tensor& w, const QuantizerSpec& q, const std::string& name);

// The codes a quantized layer holds (int8: its CB; nf4/fp4: its packed codes unpacked, reshaped
// to [out, in]) and the quantizer that produced them (blocksize from its quant_state). nullopt for
// a layer whose kind() is "dense"; an error for other kinds or an unreadable state.
struct LayerCodes {
  QuantizerSpec spec;
  at::Tensor codes;  // as weight_codes
};
Result<std::optional<LayerCodes>> layer_codes(const LinearImpl& layer, const std::string& name);

// Box convention: [lo, hi] are the smallest and largest float32 values that keep the code, both
// ends closed; the real-valued box is open/closed exactly as bitsandbytes' tie rules make it
// (dQuantizeNF4/FP4 test `x > threshold`, so a value on a threshold takes the lower code;
// int8 rounds half to even, so x16 * scale = k + 0.5 goes to the even neighbour).
struct Boxes {
  at::Tensor lo, hi;  // float32, w's shape
  at::Tensor absmax;  // float32, w's shape: the absmax of the element's block (4-bit) or row (int8)
  at::Tensor held;    // bool, w's shape: true for the one element per block/row frozen as its absmax
                      // (the first with |w| = absmax); its box is the float32 values equal to it
                      // in the quantizer's input (int8: the same float16 value)
  at::Tensor codes;   // as weight_codes(w)
};
// Boxes of every element of `w` (as weight_codes accepts), float32, CPU. An all-zero block/row
// gives boxes {y : input(y) = 0}. Errors name `name`.
Result<Boxes> quantization_boxes(const at::Tensor& w, const QuantizerSpec& q, const std::string& name);

// The fraction of weights whose code differs: flipped / n over two code tensors of one shape.
struct FlipCount {
  std::int64_t flipped = 0;
  std::int64_t n = 0;
  double rate() const { return n > 0 ? static_cast<double>(flipped) / static_cast<double>(n) : 0.0; }
};
Result<FlipCount> count_flips(const at::Tensor& codes_a, const at::Tensor& codes_b, const std::string& name);
// Both weights quantized with `q`, then count_flips.
Result<FlipCount> flip_count(const at::Tensor& w_a, const at::Tensor& w_b, const QuantizerSpec& q,
                             const std::string& name);

}  // namespace qrun::quant
