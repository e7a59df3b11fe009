// Recognising dequantized GGUF weights (issue 14 item 6): a float matrix that is exactly ggml's
// to_float of some block encoding of a type is a fixed point of dequantize(quantize(.)) for that
// type in most blocks. Each block is re-quantized with ggml's own code (ggml_types.hpp) on both of
// its paths, without an importance matrix and with a uniform one (all ones: the `_impl` searches
// that imatrix quantization runs), and counts as matching when either path gives back its float32
// values bit for bit. Measured on Gaussian weights quantized and dequantized by qrun, the share of
// matching blocks is 100 % for q4_0..q5_1, q8_0, q4_K, q6_K, mxfp4 (without imatrix), and at worst
// about a third (q3_K with an imatrix: its q3 search is not idempotent); float weights match in no
// block (a block of 16-32 values landing exactly on a scaled grid), except blocks of zeros, which
// every type reproduces and which are left out of the counts.
// Weights kept in float16 / bfloat16 (a dequantized GGUF saved as an f16/bf16 checkpoint) hold the
// dequantized values rounded: the comparison is then made after rounding the re-quantized values
// to the same dtype (round to nearest even). Measured shares on Gaussian weights: float16 87-100 %
// by type; bfloat16 12 % (q8_0: its 8-bit codes times an fp16 scale rarely survive bfloat16's 8-bit
// significand) to 100 % (mxfp4), 30-94 % for the others; float weights rounded alike: 0 %.
//
// Pure C++ (no libtorch).
#pragma once

#include "ggml_types.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace qrun::gguf {

// The types tried, coarsest first (bits per weight ascending): a matrix that matches several
// (q4_0's grid is also q5_0's) is attributed to the first of the best.
std::vector<GgmlType> detection_order();

enum class Storage { f32, f16, bf16 };  // the dtype the examined weights were stored in

struct TypeMatch {
  GgmlType type;
  std::int64_t blocks = 0;   // non-zero blocks examined
  std::int64_t matched = 0;  // of them, reproduced bit for bit by re-quantization
  double rate() const { return blocks > 0 ? static_cast<double>(matched) / static_cast<double>(blocks) : 0.0; }
};

// The integer code of every value in ggml blocks of `type` (k values, a multiple of the block size),
// as dequantize_row_* reads it: the 2-8 bit level (q8_0: the int8 value + 128; q3_K: the 2 low bits
// plus 4 when the hmask bit is set; iq4/mxfp4: the table index), without the block scales. Two
// quantizations of one matrix "flip" a weight when its code differs (quantization_box's flip rate).
void unpack_codes(GgmlType type, const void* blocks, std::int64_t k, std::uint8_t* codes);

// Re-quantization matches of `type` over rows of a row-major float32 matrix [rows, cols] (cols a
// multiple of the type's block size; values finite). `row_step` > 1 examines every row_step-th row.
TypeMatch match_type(GgmlType type, const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step = 1,
                     Storage storage = Storage::f32);

// Every type of detection_order() whose block size divides cols, and the verdict: the type with the
// highest match rate (the coarsest on ties) when that rate is at least `threshold`.
struct MatrixDetection {
  std::vector<TypeMatch> matches;
  std::optional<GgmlType> type;  // nullopt: no type reaches the threshold (or no non-zero block)
  double rate = 0.0;             // the best rate
};
inline constexpr double kDefaultMatchThreshold = 0.1;
MatrixDetection detect_matrix(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step = 1,
                              double threshold = kDefaultMatchThreshold, Storage storage = Storage::f32);

}  // namespace qrun::gguf
