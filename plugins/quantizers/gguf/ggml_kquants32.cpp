// ggml's k-quants with 32-value sub-blocks and an offset: q4_K, q5_K (ggml-org/ggml src/ggml-quants.c,
// commit d99724f2: quantize_row_q{4,5}_K_ref, quantize_row_q{4,5}_K_impl, dequantize_row_q{4,5}_K,
// get_scale_min_k4). value = d * scale * code - dmin * min, with 8 six-bit scales and 8 six-bit mins
// per 256-value super-block. Written from the algorithms, same float32 operation order.
#include "ggml_blocks.hpp"
#include "ggml_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qrun::gguf::detail {
namespace {

constexpr int kSub = QK_K / 32;  // sub-blocks per super-block

// The 12 scale bytes: sub-blocks 0..3 keep scale and min whole in bytes j and j+4; sub-blocks 4..7
// keep their low nibbles in byte j+4 and their top two bits in bits 6..7 of bytes j-4 (scale) and j (min).
void pack_scale_min(std::uint8_t* scales, int j, std::uint8_t ls, std::uint8_t lm) {
  if (j < 4) {
    scales[j] = ls;
    scales[j + 4] = lm;
  } else {
    scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    scales[j - 4] = static_cast<std::uint8_t>(scales[j - 4] | ((ls >> 4) << 6));
    scales[j] = static_cast<std::uint8_t>(scales[j] | ((lm >> 4) << 6));
  }
}

// get_scale_min_k4.
void scale_min(const std::uint8_t* q, int j, std::uint8_t* d, std::uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The parts q4_K and q5_K share; `Block` is BlockQ4_K or BlockQ5_K (same leading fields).
template <class Block>
void requantize(const float* x, const Block& y, int nmax, std::uint8_t* L) {
  for (int j = 0; j < kSub; ++j) {
    std::uint8_t sc, m;
    scale_min(y.scales, j, &sc, &m);
    const float d = fp16_to_fp32(y.d) * static_cast<float>(sc);
    if (d == 0) continue;
    const float dm = fp16_to_fp32(y.dmin) * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) L[32 * j + ii] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax));
  }
}

// Without an imatrix: make_qkx2_quants per sub-block with weights rms(x) + |x|, then scales and mins
// rounded to 6 bits against their maxima (d = max_scale / 63, dmin = max_min / 63).
template <class Block>
void scales_ref(const float* x, Block& y, int nmax, float rmin, int nstep, std::uint8_t* L) {
  float mins[kSub], scales[kSub], weights[32];
  std::uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kSub; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = make_qkx_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < kSub; ++j) {
    const auto ls = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]));
    const auto lm = static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]));
    pack_scale_min(y.scales, j, std::min<std::uint8_t>(63, ls), std::min<std::uint8_t>(63, lm));
  }
  y.d = fp32_to_fp16(max_scale / 63.f);
  y.dmin = fp32_to_fp16(max_min / 63.f);
  requantize(x, y, nmax, L);
}

// With an imatrix (or, unused by ggml_quantize_chunk, without one: weights sqrt(sigma^2) + |x|):
// weights qw * sqrt(sigma^2 + x^2), sigma^2 = 2 * mean x^2 of the super-block; make_qkx3_quants per
// sub-block (37 trials from -0.9 by 0.05); scales and mins by make_qp_quants(nmax 63) weighted by the
// sub-blocks' weight sums.
// q5_K clamps the scale codes to 63; q4_K stores them as they come (they exceed 63 only if a
// sub-block scale came out negative).
template <class Block>
void scales_impl(const float* x, Block& y, int nmax, const float* qw, bool clamp63, std::uint8_t* L) {
  float mins[kSub], scales[kSub], sw[kSub], weights[32];
  std::uint8_t Laux[32], Ls[kSub], Lm[kSub];
  float sum_x2 = 0;
  for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / QK_K;
  const float av_x = std::sqrt(sigma2);
  for (int j = 0; j < kSub; ++j) {
    const float* xs = x + 32 * j;
    if (qw) {
      for (int l = 0; l < 32; ++l) weights[l] = qw[32 * j + l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    } else {
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    }
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = make_qkx_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float d_block = make_qp_quants(kSub, 63, scales, Ls, sw);
  const float m_block = make_qp_quants(kSub, 63, mins, Lm, sw);
  for (int j = 0; j < kSub; ++j) {
    const std::uint8_t ls = clamp63 ? std::min<std::uint8_t>(63, Ls[j]) : Ls[j];
    const std::uint8_t lm = clamp63 ? std::min<std::uint8_t>(63, Lm[j]) : Lm[j];
    pack_scale_min(y.scales, j, ls, lm);
  }
  y.d = fp32_to_fp16(d_block);
  y.dmin = fp32_to_fp16(m_block);
  requantize(x, y, nmax, L);
}

// q4_K codes: byte l of each 32-byte chunk holds code l (low nibble) and l + 32 (high) of 64 values.
void pack_q4_K(const std::uint8_t* L, BlockQ4_K& y) {
  std::uint8_t* q = y.qs;
  for (int j = 0; j < QK_K; j += 64, q += 32)
    for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
}

// q5_K codes: low nibbles as q4_K; bit 4 of the codes of the i-th 32-value sub-block goes to bit i of qh[l].
void pack_q5_K(const std::uint8_t* L, BlockQ5_K& y) {
  std::memset(y.qh, 0, sizeof y.qh);
  std::uint8_t* ql = y.qs;
  for (int n = 0, bit = 0; n < QK_K; n += 64, bit += 2, ql += 32) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        y.qh[j] = static_cast<std::uint8_t>(y.qh[j] | (1 << bit));
      }
      if (l2 > 15) {
        l2 -= 16;
        y.qh[j] = static_cast<std::uint8_t>(y.qh[j] | (2 << bit));
      }
      ql[j] = static_cast<std::uint8_t>(l1 | (l2 << 4));
    }
  }
}

}  // namespace

void quantize_q4_K_ref(const float* x, BlockQ4_K* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    std::uint8_t L[QK_K];
    scales_ref(x + QK_K * i, y[i], 15, -1.f, 20, L);  // 21 trials from -1 by 0.1
    pack_q4_K(L, y[i]);
  }
}

void quantize_q5_K_ref(const float* x, BlockQ5_K* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    std::uint8_t L[QK_K];
    scales_ref(x + QK_K * i, y[i], 31, -0.5f, 15, L);  // 16 trials from -0.5 by 0.1
    pack_q5_K(L, y[i]);
  }
}

void quantize_q4_K_impl(const float* x, BlockQ4_K* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t i = 0; i < n_per_row / QK_K; ++i) {
    std::uint8_t L[QK_K];
    scales_impl(x + QK_K * i, y[i], 15, qw ? qw + QK_K * i : nullptr, false, L);
    pack_q4_K(L, y[i]);
  }
}

void quantize_q5_K_impl(const float* x, BlockQ5_K* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t i = 0; i < n_per_row / QK_K; ++i) {
    std::uint8_t L[QK_K];
    scales_impl(x + QK_K * i, y[i], 31, qw ? qw + QK_K * i : nullptr, true, L);
    pack_q5_K(L, y[i]);
  }
}

void dequantize_q4_K(const BlockQ4_K* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const std::uint8_t* q = x[i].qs;
    for (int is = 0; is < kSub; is += 2, q += 32) {
      std::uint8_t sc, m;
      scale_min(x[i].scales, is, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = min * static_cast<float>(m);
      scale_min(x[i].scales, is + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_K(const BlockQ5_K* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const std::uint8_t* ql = x[i].qs;
    const std::uint8_t* qh = x[i].qh;
    for (int is = 0; is < kSub; is += 2, ql += 32) {
      std::uint8_t sc, m;
      scale_min(x[i].scales, is, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = min * static_cast<float>(m);
      scale_min(x[i].scales, is + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = min * static_cast<float>(m);
      const int u1 = 1 << is, u2 = 2 << is;  // qh bit of sub-block is, is + 1
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
  }
}

}  // namespace qrun::gguf::detail
