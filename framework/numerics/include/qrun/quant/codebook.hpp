// bitsandbytes' code books and its value -> code rounding, reproduced bit for bit.
//
// 4-bit: NF4 and FP4 code books as bitsandbytes' get_4bit_type (functional.py) and the CUDA
// look-up tables (csrc/kernels.cu nf4_dequantization_lut / fp4_dequantization_lut); rounding as
// the CUDA decision trees dQuantizeNF4 / dQuantizeFP4 (strict `x > threshold` at every node, so
// a value exactly on a threshold takes the lower branch; float32 threshold literals).
// 8-bit: the signed dynamic map of create_dynamic_map(signed=True) (functional.py), rounding as
// the CUDA binary search dQuantize<0> (csrc/kernels.cu) that quantize_blockwise uses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qrun::quant {

enum class FourBit { nf4, fp4 };
std::string_view to_string(FourBit t);                      // "nf4", "fp4"
std::optional<FourBit> parse_four_bit(std::string_view s);  // inverse of to_string

// The 16 float32 values of the code book, indexed by the 4-bit code.
const std::array<float, 16>& nf4_code_book();
const std::array<float, 16>& fp4_code_book();
const std::array<float, 16>& code_book(FourBit t);

// The decision-tree thresholds, as float32 (the literals in dQuantizeNF4 / dQuantizeFP4).
// NF4: 15 values, ascending; threshold k separates code k and code k+1.
const std::array<float, 15>& nf4_thresholds();
// FP4 (applied to |x|, sign handled separately): 7 values ascending; threshold k separates the
// k-th and (k+1)-th smallest magnitudes {0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1}.
const std::array<float, 7>& fp4_magnitude_thresholds();

// x is a normalised value (weight * (1/absmax), float32). NaN maps to code 0 as on CUDA.
std::uint8_t quantize_nf4_value(float x);
std::uint8_t quantize_fp4_value(float x);
std::uint8_t quantize_4bit_value(FourBit t, float x);

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 ascending float32
// values in [-0.99297, 1]. Computed once with float32 ATen ops in the order functional.py uses
// (linspace, midpoint means, times float32(10^e)), so it equals torch's map on this libtorch.
const std::array<float, 256>& dynamic_map_signed();

// dQuantize<0>: the 7-step binary search from pivot 127, then the midpoint test
// ((upper + val) * 0.5f / (lower + val) * 0.5f, float32). Ties go to the searched leaf.
std::uint8_t quantize_dynamic_value(const std::array<float, 256>& code, float x);

}  // namespace qrun::quant
