// ggml's 32-value block types q4_0, q4_1, q5_0, q5_1, q8_0 (ggml-org/ggml src/ggml-quants.c, commit
// d99724f2): quantize_row_*_ref (the path without an importance matrix), quantize_row_*_impl (with
// one) and dequantize_row_*. Written from the algorithms, same float32 operation order.
#include "ggml_blocks.hpp"
#include "ggml_search.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

namespace qrun::gguf::detail {
namespace {

// Two codes per byte: the first half of the block in the low nibbles, the second in the high ones.
void pack_nibbles(const std::uint8_t* codes, std::uint8_t* qs) {
  for (int j = 0; j < QK32 / 2; ++j) qs[j] = static_cast<std::uint8_t>((codes[j] & 0x0F) | ((codes[j + QK32 / 2] & 0x0F) << 4));
}

// Five-bit codes: low nibbles packed as above, bit 4 of code j goes to bit j of the 32-bit qh
// (stored little-endian).
void pack_5bit(const std::uint8_t* codes, std::uint8_t* qs, std::uint8_t* qh_bytes) {
  pack_nibbles(codes, qs);
  std::uint32_t qh = 0;
  for (int j = 0; j < QK32; ++j) qh |= static_cast<std::uint32_t>((codes[j] & 0x10u) >> 4) << j;
  for (int b = 0; b < 4; ++b) qh_bytes[b] = static_cast<std::uint8_t>(qh >> (8 * b));
}

std::uint32_t load_qh(const std::uint8_t* qh_bytes) {
  std::uint32_t qh = 0;
  for (int b = 0; b < 4; ++b) qh |= static_cast<std::uint32_t>(qh_bytes[b]) << (8 * b);
  return qh;
}

// The signed value of largest magnitude in a block (the first one on ties).
float block_signed_absmax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < QK32; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void block_min_max(const float* x, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < QK32; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

// Truncating float -> int8 conversion, as C's (int8_t)f for the in-range values these types produce.
int trunc_i8(float f) { return static_cast<std::int8_t>(static_cast<int>(f)); }

// The *_impl weights: imatrix column weight times sqrt(sigma^2 + x^2), sigma^2 = mean x^2 of the row.
float row_sigma2(const float* x, std::int64_t n_per_row) {
  float sum_x2 = 0;
  for (std::int64_t j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n_per_row);
}
void impl_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < QK32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

}  // namespace

// Symmetric 4-bit: d = max / -8 (max: the signed value of largest magnitude), code = trunc(x/d + 8.5) <= 15.
void quantize_q4_0_ref(const float* x, BlockQ4_0* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    const float d = block_signed_absmax(x) / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(std::min(15, trunc_i8(x[j] * id + 8.5f)));
    pack_nibbles(codes, y[i].qs);
  }
}

// Asymmetric 4-bit: d = (max - min) / 15, m = min, code = trunc((x - min)/d + 0.5) <= 15.
void quantize_q4_1_ref(const float* x, BlockQ4_1* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    float min, max;
    block_min_max(x, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(std::min(15, trunc_i8((x[j] - min) * id + 0.5f)));
    pack_nibbles(codes, y[i].qs);
  }
}

// Symmetric 5-bit: d = max / -16, code = trunc(x/d + 16.5) <= 31.
void quantize_q5_0_ref(const float* x, BlockQ5_0* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    const float d = block_signed_absmax(x) / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(std::min(31, trunc_i8(x[j] * id + 16.5f)));
    pack_5bit(codes, y[i].qs, y[i].qh);
  }
}

// Asymmetric 5-bit: d = (max - min) / 31, code = (uint8)((x - min)/d + 0.5) (no clamp in ggml).
void quantize_q5_1_ref(const float* x, BlockQ5_1* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    float min, max;
    block_min_max(x, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(static_cast<int>((x[j] - min) * id + 0.5f));
    pack_5bit(codes, y[i].qs, y[i].qh);
  }
}

// Symmetric 8-bit: d = amax / 127, code = roundf(x/d) (half away from zero).
void quantize_q8_0_ref(const float* x, BlockQ8_0* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    float amax = 0.0f;
    for (int j = 0; j < QK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK32; ++j) y[i].qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
  }
}

// With an imatrix: make_qx_quants(nmax 8) on imatrix-weighted errors.
void quantize_q4_0_impl(const float* x, BlockQ4_0* y, std::int64_t n_per_row, const float* qw) {
  if (!qw) return quantize_q4_0_ref(x, y, n_per_row);
  const float sigma2 = row_sigma2(x, n_per_row);
  for (std::int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
    const float* xb = x + QK32 * ib;
    float weight[QK32];
    impl_weights(xb, qw + QK32 * ib, sigma2, weight);
    std::int8_t L[QK32];
    y[ib].d = fp32_to_fp16(make_qx_quants(QK32, 8, xb, L, 1, weight));
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(L[j]);
    pack_nibbles(codes, y[ib].qs);
  }
}

// With an imatrix: make_qkx3_quants(nmax 15, 37 trials from -0.9 in steps of 0.05), m = -min.
void quantize_q4_1_impl(const float* x, BlockQ4_1* y, std::int64_t n_per_row, const float* qw) {
  if (!qw) return quantize_q4_1_ref(x, y, n_per_row);
  const float sigma2 = row_sigma2(x, n_per_row);
  for (std::int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
    const float* xb = x + QK32 * ib;
    float weight[QK32];
    impl_weights(xb, qw + QK32 * ib, sigma2, weight);
    std::uint8_t L[QK32], Laux[QK32];
    float min = 0;
    const float d = make_qkx_quants(QK32, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    y[ib].d = fp32_to_fp16(d);
    y[ib].m = fp32_to_fp16(-min);
    pack_nibbles(L, y[ib].qs);
  }
}

void quantize_q5_0_impl(const float* x, BlockQ5_0* y, std::int64_t n_per_row, const float* qw) {
  if (!qw) return quantize_q5_0_ref(x, y, n_per_row);
  const float sigma2 = row_sigma2(x, n_per_row);
  for (std::int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
    const float* xb = x + QK32 * ib;
    float weight[QK32];
    impl_weights(xb, qw + QK32 * ib, sigma2, weight);
    std::int8_t L[QK32];
    y[ib].d = fp32_to_fp16(make_qx_quants(QK32, 16, xb, L, 1, weight));
    std::uint8_t codes[QK32];
    for (int j = 0; j < QK32; ++j) codes[j] = static_cast<std::uint8_t>(L[j]);
    pack_5bit(codes, y[ib].qs, y[ib].qh);
  }
}

void quantize_q5_1_impl(const float* x, BlockQ5_1* y, std::int64_t n_per_row, const float* qw) {
  if (!qw) return quantize_q5_1_ref(x, y, n_per_row);
  const float sigma2 = row_sigma2(x, n_per_row);
  for (std::int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
    const float* xb = x + QK32 * ib;
    float weight[QK32];
    impl_weights(xb, qw + QK32 * ib, sigma2, weight);
    std::uint8_t L[QK32], Laux[QK32];
    float min = 0;
    const float d = make_qkx_quants(QK32, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    y[ib].d = fp32_to_fp16(d);
    y[ib].m = fp32_to_fp16(-min);
    pack_5bit(L, y[ib].qs, y[ib].qh);
  }
}

// dequantize_row_*: value = d * (code - offset) [+ m], float32.
void dequantize_q4_0(const BlockQ4_0* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK32 / 2; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + QK32 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK32 / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[j + QK32 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < QK32 / 2; ++j) {
      const int hi0 = static_cast<int>((qh >> j) & 1u) << 4, hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>(((x[i].qs[j] & 0x0F) | hi0) - 16) * d;
      y[j + QK32 / 2] = static_cast<float>(((x[i].qs[j] >> 4) | hi1) - 16) * d;
    }
  }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    const std::uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < QK32 / 2; ++j) {
      const int hi0 = static_cast<int>((qh >> j) & 1u) << 4, hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) | hi0) * d + m;
      y[j + QK32 / 2] = static_cast<float>((x[i].qs[j] >> 4) | hi1) * d + m;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK32; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

}  // namespace qrun::gguf::detail
