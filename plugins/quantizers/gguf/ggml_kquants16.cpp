// ggml's k-quants with 16-value sub-blocks: q2_K, q3_K, q6_K (ggml-org/ggml src/ggml-quants.c,
// commit d99724f2: quantize_row_q{2,3,6}_K_ref, quantize_row_q{2,3,6}_K_impl, dequantize_row_q{2,3,6}_K).
// A 256-value super-block holds 16 sub-block scales quantized against one fp16 super-block scale;
// after the scales are rounded, every value is re-quantized with its rounded scale.
// Written from the algorithms, same float32 operation order.
#include "ggml_blocks.hpp"
#include "ggml_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qrun::gguf::detail {
namespace {

constexpr int kSub = QK_K / 16;  // sub-blocks per super-block

// 2-bit codes, 4 per byte: byte l of each 32-byte half holds codes l, l+32, l+64, l+96 of its 128 values.
void pack_2bit(const std::uint8_t* L, std::uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// ---- q2_K: value = d * (scale & 15) * code - dmin * (scale >> 4), code in 0..3 ----

// Re-quantizes each sub-block against its rounded scale and min (skipped where the scale is 0).
void q2_K_requantize(const float* x, const BlockQ2_K& y, std::uint8_t* L) {
  const float dall = fp16_to_fp32(y.d), mall = fp16_to_fp32(y.dmin);
  for (int j = 0; j < kSub; ++j) {
    const float d = dall * static_cast<float>(y.scales[j] & 0xF);
    if (d == 0) continue;
    const float dm = mall * static_cast<float>(y.scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[16 * j + ii] + dm) / d), 0, 3));
  }
}

// ---- q3_K: value = d * (scale - 32) * (code - 4), 6-bit scales, code in 0..7 (high bit in hmask) ----

// Sub-block j's 6-bit scale: low nibbles in bytes 0..7 (j < 8 low, j >= 8 high nibble of j - 8),
// top two bits in bytes 8..11 (byte 8 + j % 4, bit pair j / 4).
void q3_K_set_scale(std::uint8_t* scales, int j, int l) {
  if (j < 8) scales[j] = static_cast<std::uint8_t>(l & 0xF);
  else scales[j - 8] = static_cast<std::uint8_t>(scales[j - 8] | ((l & 0xF) << 4));
  scales[j % 4 + 8] = static_cast<std::uint8_t>(scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
}
int q3_K_get_scale(const std::uint8_t* scales, int j) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return (low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

void q3_K_finish(const float* x, BlockQ3_K& y, std::int8_t* L) {
  for (int j = 0; j < kSub; ++j) {
    const float d = fp16_to_fp32(y.d) * static_cast<float>(q3_K_get_scale(y.scales, j));
    if (d == 0) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<std::int8_t>(std::clamp(nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
  }
  // The high bit of code j goes to bit j / 32 of hmask[j % 32]; the low two bits are packed as q2_K's.
  std::memset(y.hmask, 0, sizeof y.hmask);
  std::uint8_t low[QK_K];
  for (int j = 0; j < QK_K; ++j) {
    int l = L[j];
    if (l > 3) {
      y.hmask[j % (QK_K / 8)] = static_cast<std::uint8_t>(y.hmask[j % (QK_K / 8)] | (1 << (j / (QK_K / 8))));
      l -= 4;
    }
    low[j] = static_cast<std::uint8_t>(l);
  }
  pack_2bit(low, y.qs);
}

// ---- q6_K: value = d * scale * (code - 32), int8 scales, code in 0..63 ----

// Low nibbles: ql[l] = codes l | l+64 (of each 128), ql[l+32] = l+32 | l+96; the top two bits of
// codes l, l+32, l+64, l+96 share qh[l].
void q6_K_pack(const std::int8_t* L, BlockQ6_K& y) {
  std::uint8_t* ql = y.ql;
  std::uint8_t* qh = y.qh;
  for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
    for (int l = 0; l < 32; ++l) {
      const int a = L[j + l], b = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
      ql[l] = static_cast<std::uint8_t>((a & 0xF) | ((c & 0xF) << 4));
      ql[l + 32] = static_cast<std::uint8_t>((b & 0xF) | ((e & 0xF) << 4));
      qh[l] = static_cast<std::uint8_t>((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
    }
  }
}

// One q6_K super-block (quantize_row_q6_K_ref when qw is null, quantize_row_q6_K_impl otherwise).
void q6_K_block(const float* x, BlockQ6_K& y, const float* qw) {
  std::int8_t L[QK_K];
  float scales[kSub];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < kSub; ++ib) {
    const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw ? qw + 16 * ib : nullptr);
    scales[ib] = scale;
    if (std::fabs(scale) > max_abs_scale) {
      max_abs_scale = std::fabs(scale);
      max_scale = scale;
    }
  }
  if (max_abs_scale < kGroupMaxEps) {  // an all-zero super-block: every byte 0
    std::memset(&y, 0, sizeof y);
    return;
  }
  const float iscale = -128.f / max_scale;
  y.d = fp32_to_fp16(1 / iscale);
  for (int ib = 0; ib < kSub; ++ib) y.scales[ib] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < kSub; ++j) {
    const float d = fp16_to_fp32(y.d) * static_cast<float>(y.scales[j]);
    if (d == 0) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<std::int8_t>(std::clamp(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
  }
  q6_K_pack(L, y);
}

}  // namespace

// Sub-blocks by make_qkx2_quants (weights |x|, 16 trials from -0.5 by 0.1, absolute error), then
// scales and mins rounded to 4 bits against their maxima.
void quantize_q2_K_ref(const float* x, BlockQ2_K* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
    std::uint8_t L[QK_K], Laux[16];
    float weights[16], mins[kSub], scales[kSub];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kSub; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float q4scale = 15.f;
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < kSub; ++j) y[i].scales[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
      y[i].d = fp32_to_fp16(max_scale / q4scale);
    } else {
      std::memset(y[i].scales, 0, sizeof y[i].scales);
      y[i].d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < kSub; ++j) y[i].scales[j] = static_cast<std::uint8_t>(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
      y[i].dmin = fp32_to_fp16(max_min / q4scale);
    } else {
      y[i].dmin = fp32_to_fp16(0.f);
    }
    q2_K_requantize(x, y[i], L);
    pack_2bit(L, y[i].qs);
  }
}

// With an imatrix: weights qw * sqrt(sigma^2 + x^2) (sigma^2 = mean x^2 of the super-block),
// make_qkx3_quants per sub-block (37 trials from -0.9 by 0.05, squared error), then the 16 scales and
// the 16 mins each by make_qp_quants(nmax 15) weighted by the sub-blocks' weight sums.
void quantize_q2_K_impl(const float* x, BlockQ2_K* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t i = 0; i < n_per_row / QK_K; ++i, x += QK_K) {
    std::uint8_t L[QK_K], Laux[16], Ls[kSub], Lm[kSub];
    float mins[kSub], scales[kSub], sw[kSub] = {}, weight[16];
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / QK_K;
    for (int j = 0; j < kSub; ++j) {
      const float* w = qw + QK_K * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      for (int l = 0; l < 16; ++l) sw[j] += weight[l];
      scales[j] = make_qkx_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
    const float dm = make_qp_quants(kSub, 15, scales, Ls, sw);
    const float mm = make_qp_quants(kSub, 15, mins, Lm, sw);
    y[i].d = fp32_to_fp16(dm);
    y[i].dmin = fp32_to_fp16(mm);
    for (int j = 0; j < kSub; ++j) y[i].scales[j] = static_cast<std::uint8_t>(Ls[j] | (Lm[j] << 4));
    q2_K_requantize(x, y[i], L);
    pack_2bit(L, y[i].qs);
  }
}

// Sub-blocks by make_q3_quants (nmax 4, refined); scales rounded to 6 bits against the signed
// largest-magnitude scale (d = max_scale / -32).
void quantize_q3_K_ref(const float* x, BlockQ3_K* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
    std::int8_t L[QK_K];
    float scales[kSub];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kSub; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kSub; ++j) {
        const int l = std::clamp<int>(static_cast<std::int8_t>(nearest_int(iscale * scales[j])), -32, 31) + 32;
        q3_K_set_scale(y[i].scales, j, l);
      }
      y[i].d = fp32_to_fp16(1 / iscale);
    } else {
      y[i].d = fp32_to_fp16(0.f);
    }
    q3_K_finish(x, y[i], L);
  }
}

// With an imatrix: weights qw * sqrt(sigma^2 + x^2) (sigma^2 = 2 * mean x^2), make_qx_quants per
// sub-block (nmax 4), then the 16 scales by make_qx_quants(nmax 32) weighted by the weight sums.
void quantize_q3_K_impl(const float* x, BlockQ3_K* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t i = 0; i < n_per_row / QK_K; ++i, x += QK_K) {
    std::int8_t L[QK_K], Ls[kSub];
    float scales[kSub], weight[16], sw[kSub];
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / QK_K;
    for (int j = 0; j < kSub; ++j) {
      const float* xs = x + 16 * j;
      if (qw) {
        const float* w = qw + QK_K * i + 16 * j;
        for (int l = 0; l < 16; ++l) weight[l] = w[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
      } else {
        for (int l = 0; l < 16; ++l) weight[l] = xs[l] * xs[l];
      }
      float sumw = 0;
      for (int l = 0; l < 16; ++l) sumw += weight[l];
      sw[j] = sumw;
      scales[j] = make_qx_quants(16, 4, xs, L + 16 * j, 1, weight);
    }
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    const float d_block = make_qx_quants(kSub, 32, scales, Ls, 1, sw);
    for (int j = 0; j < kSub; ++j) q3_K_set_scale(y[i].scales, j, Ls[j]);
    y[i].d = fp32_to_fp16(d_block);
    q3_K_finish(x, y[i], L);
  }
}

void quantize_q6_K_ref(const float* x, BlockQ6_K* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) q6_K_block(x + QK_K * i, y[i], nullptr);
}

// With an imatrix the sub-block fit is make_qx_quants weighted by the raw imatrix values.
void quantize_q6_K_impl(const float* x, BlockQ6_K* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t i = 0; i < n_per_row / QK_K; ++i) q6_K_block(x + QK_K * i, y[i], qw ? qw + QK_K * i : nullptr);
}

void dequantize_q2_K(const BlockQ2_K* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const std::uint8_t* q = x[i].qs;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {  // sub-blocks use bytes 0..15, then 16..31
          const std::uint8_t sc = x[i].scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void dequantize_q3_K(const BlockQ3_K* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d_all = fp16_to_fp32(x[i].d);
    const std::uint8_t* q = x[i].qs;
    const std::uint8_t* hm = x[i].hmask;
    int is = 0, bit = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, ++bit) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(q3_K_get_scale(x[i].scales, is++));
          for (int l = 0; l < 16; ++l) {
            const int c = ((q[l + 16 * half] >> shift) & 3) - (((hm[l + 16 * half] >> bit) & 1) ? 0 : 4);
            *y++ = dl * static_cast<float>(c);
          }
        }
      }
    }
  }
}

void dequantize_q6_K(const BlockQ6_K* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace qrun::gguf::detail
