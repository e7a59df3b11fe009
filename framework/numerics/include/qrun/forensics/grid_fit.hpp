// Does a group of values lie on a scaled code book, up to the rounding of the float format the
// values were last stored in? The building block of the dequantization detector
// (dequant_detector.hpp).
//
// A "unit" is a group of values that a quantizer scales together: a 4-bit block (bitsandbytes
// NF4/FP4: value = code_book[code] * absmax, blocksize consecutive values) or a weight row
// (LLM.int8: value = k * SCB / 127, k in [-127, 127]). In both the unit's max |value| is the
// scale itself (the absmax element gets code +-1), so the scale is read from the data: a = max|x|.
// This also covers double-quantized absmax (the reconstructed absmax is what the data shows).
//
// Tolerance. With q = c * a the nearest code-book value, an element fits when
//     |x - q| <= half_ulp(max(|x|, |q|)) + |c| * half_ulp(a) + 8 * ulp_f32(max(|x|, |q|))
// where half_ulp is taken in the format the values were rounded to (effective_dtype):
//   - half_ulp(max(|x|,|q|)): the element itself was rounded to that format once (round to
//     nearest: error <= half an ulp of the binade of the exact value);
//   - |c| * half_ulp(a): the scale we read, a = max|x|, was rounded too, and its error scales
//     with the code;
//   - 8 float32 ulps: the dequantizer's own float32 products (bitsandbytes computes
//     lut[code] * absmax, and CB * SCB * (1/127) in two steps, in float32).
// Our side is computed in float64, so it adds no error. In float32 storage the tolerance is
// ~1e-6 relative (a genuine weight fits by chance with probability ~1e-5 per element); in
// bfloat16 it is ~2^-8 relative, so single elements often fit by chance, but a whole unit of 32
// or more elements practically never does (the detector measures that chance rate).
#pragma once

#include <qrun/dtype.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace qrun::forensics {

// The narrowest float format holding every value of `w` exactly, tried in the order bfloat16
// (8 significant bits), float16 (11), float32 (24). A float16/bfloat16 tensor is its own dtype.
// `w`: float32/float16/bfloat16, finite.
DType effective_dtype(const at::Tensor& w);

// Half an ulp of |v| in `d` (f32, f16 or bf16; subnormal spacing below the normal range),
// float64, same shape as `v` (float64).
at::Tensor half_ulp(const at::Tensor& v, DType d);

// How many units (and elements) fit a code book.
struct FitCounts {
  std::int64_t units = 0;             // units with a non-zero scale
  std::int64_t degenerate_units = 0;  // all-zero units: no scale, excluded from every rate
  std::int64_t fitting_units = 0;     // units whose every element fits
  std::int64_t elements = 0;          // elements of the non-degenerate units
  std::int64_t fitting_elements = 0;
  double distinct_sum = 0;            // Σ distinct values per unit (when counted)
  std::int64_t distinct_max = 0;

  void add(const FitCounts& o);
  double unit_rate() const;     // fitting_units / units (0 when units == 0)
  double element_rate() const;  // fitting_elements / elements (0 when elements == 0)
  double mean_distinct() const; // distinct_sum / units (0 when units == 0)
};

// Normalised code book: sorted, without duplicates, max |code| == 1 (float64 values).
std::vector<double> normalised_code_book(const std::vector<double>& codes);

// `units`: float32 [n, len], one unit per row. `codes`: normalised_code_book(...). Counts the
// units whose every element fits (tolerance above, rounding format `rounding`), and when
// `count_distinct` the distinct values per non-degenerate unit.
FitCounts fit_code_book(const at::Tensor& units, const std::vector<double>& codes, DType rounding,
                        bool count_distinct);

}  // namespace qrun::forensics
