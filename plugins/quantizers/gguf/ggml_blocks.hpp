// ggml's block layouts (src/ggml-common.h, commit d99724f2) and the per-type row functions of
// src/ggml-quants.c that ggml_types.cpp dispatches to. Internal to the gguf plugin.
// Each struct is the exact byte layout ggml writes (little-endian fp16 fields, no padding).
#pragma once

#include "ggml_fp16.hpp"

#include <cstdint>

namespace qrun::gguf::detail {

constexpr int QK_K = 256;        // values per k-quant super-block
constexpr int K_SCALE_SIZE = 12; // 8 six-bit scales + 8 six-bit mins (q4_K, q5_K)
constexpr int QK32 = 32;         // values per legacy / iq4_nl / mxfp4 block

struct BlockQ4_0 { ggml_half d; std::uint8_t qs[QK32 / 2]; };
struct BlockQ4_1 { ggml_half d, m; std::uint8_t qs[QK32 / 2]; };
struct BlockQ5_0 { ggml_half d; std::uint8_t qh[4]; std::uint8_t qs[QK32 / 2]; };
struct BlockQ5_1 { ggml_half d, m; std::uint8_t qh[4]; std::uint8_t qs[QK32 / 2]; };
struct BlockQ8_0 { ggml_half d; std::int8_t qs[QK32]; };
struct BlockQ2_K { std::uint8_t scales[QK_K / 16]; std::uint8_t qs[QK_K / 4]; ggml_half d, dmin; };
struct BlockQ3_K { std::uint8_t hmask[QK_K / 8]; std::uint8_t qs[QK_K / 4]; std::uint8_t scales[12]; ggml_half d; };
struct BlockQ4_K { ggml_half d, dmin; std::uint8_t scales[K_SCALE_SIZE]; std::uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { ggml_half d, dmin; std::uint8_t scales[K_SCALE_SIZE]; std::uint8_t qh[QK_K / 8]; std::uint8_t qs[QK_K / 2]; };
struct BlockQ6_K { std::uint8_t ql[QK_K / 2]; std::uint8_t qh[QK_K / 4]; std::int8_t scales[QK_K / 16]; ggml_half d; };
struct BlockIQ4_NL { ggml_half d; std::uint8_t qs[QK32 / 2]; };
struct BlockIQ4_XS { ggml_half d; std::uint16_t scales_h; std::uint8_t scales_l[QK_K / 64]; std::uint8_t qs[QK_K / 2]; };
struct BlockMXFP4 { std::uint8_t e; std::uint8_t qs[QK32 / 2]; };

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210 && sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockMXFP4) == 17);

// Non-linear 4-bit code books (ggml-common.h kvalues_iq4nl; kvalues_mxfp4 = e2m1 values doubled).
inline constexpr std::int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                 1,    13,   25,  38,  53,  69,  89,  113};
inline constexpr std::int8_t kMXFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// --- legacy 32-value blocks (ggml_legacy.cpp) ---
// *_ref: quantize_row_*_ref over k values; *_impl: quantize_row_*_impl over one row with weights.
void quantize_q4_0_ref(const float* x, BlockQ4_0* y, std::int64_t k);
void quantize_q4_1_ref(const float* x, BlockQ4_1* y, std::int64_t k);
void quantize_q5_0_ref(const float* x, BlockQ5_0* y, std::int64_t k);
void quantize_q5_1_ref(const float* x, BlockQ5_1* y, std::int64_t k);
void quantize_q8_0_ref(const float* x, BlockQ8_0* y, std::int64_t k);
void quantize_q4_0_impl(const float* x, BlockQ4_0* y, std::int64_t n_per_row, const float* qw);
void quantize_q4_1_impl(const float* x, BlockQ4_1* y, std::int64_t n_per_row, const float* qw);
void quantize_q5_0_impl(const float* x, BlockQ5_0* y, std::int64_t n_per_row, const float* qw);
void quantize_q5_1_impl(const float* x, BlockQ5_1* y, std::int64_t n_per_row, const float* qw);
void dequantize_q4_0(const BlockQ4_0* x, float* y, std::int64_t k);
void dequantize_q4_1(const BlockQ4_1* x, float* y, std::int64_t k);
void dequantize_q5_0(const BlockQ5_0* x, float* y, std::int64_t k);
void dequantize_q5_1(const BlockQ5_1* x, float* y, std::int64_t k);
void dequantize_q8_0(const BlockQ8_0* x, float* y, std::int64_t k);

// --- k-quants, 256-value super-blocks (ggml_kquants16.cpp: q2_K q3_K q6_K; ggml_kquants32.cpp: q4_K q5_K) ---
void quantize_q2_K_ref(const float* x, BlockQ2_K* y, std::int64_t k);
void quantize_q3_K_ref(const float* x, BlockQ3_K* y, std::int64_t k);
void quantize_q4_K_ref(const float* x, BlockQ4_K* y, std::int64_t k);
void quantize_q5_K_ref(const float* x, BlockQ5_K* y, std::int64_t k);
void quantize_q6_K_ref(const float* x, BlockQ6_K* y, std::int64_t k);
void quantize_q2_K_impl(const float* x, BlockQ2_K* y, std::int64_t n_per_row, const float* qw);
void quantize_q3_K_impl(const float* x, BlockQ3_K* y, std::int64_t n_per_row, const float* qw);
void quantize_q4_K_impl(const float* x, BlockQ4_K* y, std::int64_t n_per_row, const float* qw);
void quantize_q5_K_impl(const float* x, BlockQ5_K* y, std::int64_t n_per_row, const float* qw);
void quantize_q6_K_impl(const float* x, BlockQ6_K* y, std::int64_t n_per_row, const float* qw);
void dequantize_q2_K(const BlockQ2_K* x, float* y, std::int64_t k);
void dequantize_q3_K(const BlockQ3_K* x, float* y, std::int64_t k);
void dequantize_q4_K(const BlockQ4_K* x, float* y, std::int64_t k);
void dequantize_q5_K(const BlockQ5_K* x, float* y, std::int64_t k);
void dequantize_q6_K(const BlockQ6_K* x, float* y, std::int64_t k);

// --- non-linear 4-bit (ggml_iq.cpp) ---
// quantize_iq4_nl / quantize_iq4_xs (ggml's entry points): one row, qw null or n_per_row weights.
void quantize_iq4_nl_row(const float* x, BlockIQ4_NL* y, std::int64_t n_per_row, const float* qw);
void quantize_iq4_xs_row(const float* x, BlockIQ4_XS* y, std::int64_t n_per_row, const float* qw);
void quantize_mxfp4_ref(const float* x, BlockMXFP4* y, std::int64_t k);
void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, std::int64_t k);
void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, std::int64_t k);
void dequantize_mxfp4(const BlockMXFP4* x, float* y, std::int64_t k);

}  // namespace qrun::gguf::detail
