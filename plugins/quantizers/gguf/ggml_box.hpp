// Quantization boxes for ggml's types (issue 14 item 6): for every weight of a float32 matrix, an
// interval [lo, hi] of float32 values within which the matrix, every weight anywhere in its own
// interval at once, quantizes (ggml_quantize_chunk, ggml_types.hpp) to the same block bytes, hence
// the same codes and dequantized values. Two kinds of boxes, by how a type picks its scales:
//
//  exact      q4_0 q4_1 q5_0 q5_1 without an imatrix, q8_0 and mxfp4 always (their imatrix is
//             ignored): the block's scale is a function of its extreme element(s) only (q4_0 q5_0
//             q8_0 mxfp4: the value of largest magnitude; q4_1 q5_1: the minimum and the maximum).
//             Those elements are frozen (held: box = the value itself). Every other element may
//             move anywhere that keeps its own code while it stays within the extremes (|y| <= amax,
//             resp. min <= y <= max, and never taking over as the block's first extreme), so the
//             scale's inputs are bit-identical and each code depends on its own weight alone: the
//             box is the product of one interval per weight. Each interval is found by bisection on
//             the float32 values between the weight and the frozen extreme, re-quantizing the block
//             with ggml's own code, so both ends are exact: the next float32 beyond an end either
//             changes the block's bytes or lies beyond the frozen extreme.
//
//  certified  q2_K..q6_K, iq4_xs (super-block scales from a search over the whole super-block:
//             make_qkx2/3_quants, make_q3_quants, make_qx_quants, make_qp_quants, the iq4 search),
//             iq4_nl (the iq4 search) and q4_0..q5_1 with an imatrix (make_qx/qkx3 searches, with a
//             row-wide sigma^2): boxes by emulation, then certified by re-quantization, following
//             Egashira et al., "Mind the Gap: A Practical Attack on GGUF Quantization" (ICML 2025;
//             eth-sri/llm-quantization-attack q_attack/repair/gguf/emulator.py, get_width):
//               1. each weight's interval runs from the weight to its dequantized value (the side
//                  of the grid point it was rounded to);
//               2. frozen: the first maximum and minimum of every sub-block (16 or 32 values), and,
//                  for super-block types, the whole sub-block of largest range (asymmetric types
//                  also the one of most negative minimum; symmetric ones: of largest magnitude),
//                  the sub-blocks whose scale / min set the fp16 super-block scales;
//               3. certification, row by row (imatrix paths weight by a row- or super-block-wide
//                  sigma^2): draws inside the boxes (uniform, random corners, all at the far end)
//                  are re-quantized with ggml's code; where a block's bytes change, the weights whose
//                  dequantized value changed are frozen (Mind the Gap's freeze_sensitive_iters), or,
//                  when none is left to freeze, the block's free widths are halved; after too many
//                  failures a block is frozen whole. A row is certified after `clean_draws`
//                  consecutive draws that all keep every block's bytes.
//             Certified boxes are not a proof: they passed every draw tried.
//
// Pure C++ (no libtorch), like ggml_types.hpp.
#pragma once

#include "ggml_types.hpp"

#include <cstdint>

namespace qrun::gguf {

enum class BoxKind { exact, certified };
// Which kind of box `type` gets, with (`imatrix` true) or without an importance matrix.
// Precondition: `type` is one of quantized_types().
BoxKind box_kind(GgmlType type, bool imatrix);
const char* to_string(BoxKind k);  // "exact", "certified"

// Values per sub-block (the unit of a scale: 32 for the legacy types, iq4_nl, mxfp4, q4_K, q5_K,
// iq4_xs; 16 for q2_K, q3_K, q6_K) and per super-block (256 for k-quants and iq4_xs, else 32).
int sub_block_size(GgmlType type);
bool is_asymmetric(GgmlType type);  // value = d * q - m (q4_1 q5_1 q2_K q4_K q5_K)

struct BoxOptions {
  int clean_draws = 1024;       // certified: consecutive clean draws that certify a unit (row or block)
  int max_block_failures = 24;  // certified: failures after which a block is frozen whole
  int max_halvings = 6;         // certified: halvings of one weight's box after which it is frozen
  float margin = 0.5f;          // certified: the boxes kept are the certified ones scaled by this
                                // toward the weights, then certified again (1: no margin)
  std::uint64_t seed = 0;       // certified: the draws' random stream (splitmix64)
};

struct BoxStats {
  std::int64_t weights = 0;
  std::int64_t held = 0;             // frozen (box = the weight's value)
  std::int64_t draws = 0;            // certified: row quantizations tried
  std::int64_t failed_draws = 0;     // certified: draws that changed some block
  std::int64_t frozen_blocks = 0;    // certified: blocks frozen whole after repeated failures
};

// Boxes of a row-major float32 matrix [rows, cols] (cols a multiple of the type's block size,
// values finite) for `type`, quantized with `imatrix` (null or cols values, as quantize_rows).
// Writes lo, hi (float32, lo <= x <= hi) and held (1 = frozen) per weight.
BoxStats quantization_boxes(GgmlType type, const float* x, std::int64_t rows, std::int64_t cols,
                            const float* imatrix, float* lo, float* hi, std::uint8_t* held,
                            const BoxOptions& options = {});

// One float32 step: the next representable value above (below) v (finite v).
float next_up(float v);
float next_down(float v);

}  // namespace qrun::gguf
