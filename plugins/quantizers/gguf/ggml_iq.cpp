// ggml's non-linear 4-bit types (ggml-org/ggml src/ggml-quants.c, commit d99724f2):
//   iq4_nl  32-value blocks, one fp16 scale, codes index kvalues_iq4nl   (quantize_iq4_nl)
//   iq4_xs  256-value super-blocks, fp16 scale and 8 six-bit sub-block scales (quantize_iq4_xs)
//   mxfp4   32-value blocks, E8M0 scale, codes index the doubled e2m1 values (quantize_row_mxfp4_ref)
// Both iq4 types run ggml's quantize_row_iq4_nl_impl search with 7 tries each side, with or without
// an importance matrix (without one the weights are x^2). Written from the algorithms, same float32
// operation order.
#include "ggml_blocks.hpp"
#include "ggml_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qrun::gguf::detail {
namespace {

constexpr int kTries = 7;  // ntry of quantize_iq4_nl / quantize_iq4_xs

// best_index_int8: the index of the table value nearest to x (table ascending; ties to the upper one,
// values beyond the ends to the ends), by bisection.
int best_index_int8(const std::int8_t* val, float x) {
  if (x <= static_cast<float>(val[0])) return 0;
  if (x >= static_cast<float>(val[15])) return 15;
  int ml = 0, mu = 15;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < static_cast<float>(val[mav])) mu = mav;
    else ml = mav;
  }
  return x - static_cast<float>(val[mu - 1]) < static_cast<float>(val[mu]) - x ? mu - 1 : mu;
}

// Sum of w q x and w q^2 over a block for the codes that inverse scale `id` gives (codes to L if given).
void iq4_fit(const float* xb, const float* weight, float id, float* sumqx, float* sumq2, std::uint8_t* L) {
  *sumqx = 0;
  *sumq2 = 0;
  for (int j = 0; j < QK32; ++j) {
    const int l = best_index_int8(kIQ4NLValues, id * xb[j]);
    if (L) L[j] = static_cast<std::uint8_t>(l);
    const float q = static_cast<float>(kIQ4NLValues[l]);
    *sumqx += weight[j] * q * xb[j];
    *sumq2 += weight[j] * q * q;
  }
}

// The scale of one 32-value block: start from -max / -127 (codes to L), then try inverse scales
// (t - 127) / max for t = -7..7, keeping the weighted least-squares scale of largest sumqx^2/sumq2.
// Returns 0 for an all-zero block (L untouched).
float iq4_block_scale(const float* xb, const float* weight, std::uint8_t* L) {
  float amax = 0, max = 0;
  for (int j = 0; j < QK32; ++j) {
    const float ax = std::fabs(xb[j]);
    if (ax > amax) {
      amax = ax;
      max = xb[j];
    }
  }
  if (amax < kGroupMaxEps) return 0;
  const float values0 = static_cast<float>(kIQ4NLValues[0]);
  float d = -max / values0;
  float sumqx = 0, sumq2 = 0;
  iq4_fit(xb, weight, 1 / d, &sumqx, &sumq2, L);
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kTries; itry <= kTries; ++itry) {
    const float id = static_cast<float>(itry + kIQ4NLValues[0]) / max;
    iq4_fit(xb, weight, id, &sumqx, &sumq2, nullptr);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Weights of the search: qw * sqrt(sigma^2 + x^2) with an imatrix, x^2 without one;
// sigma^2 = 2 * mean x^2 over the (super-)block of n values.
float iq4_sigma2(const float* x, int n) {
  float sigma2 = 0;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / static_cast<float>(n);
  return sigma2;
}
void iq4_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < QK32; ++j) weight[j] = qw ? qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

// Codes of a 32-value block packed as the legacy types: low nibbles the first 16, high the last 16.
void pack_iq4(const std::uint8_t* L, std::uint8_t* q4) {
  for (int j = 0; j < 16; ++j) q4[j] = static_cast<std::uint8_t>(L[j] | (L[16 + j] << 4));
}

// best_index_mxfp4: the first table entry k minimizing |k * e - x|.
int best_index_mxfp4(float x, float e) {
  int best_index = 0;
  float best_err = std::fabs(static_cast<float>(kMXFP4Values[0]) * e - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kMXFP4Values[i]) * e - x);
    if (err < best_err) {
      best_index = i;
      best_err = err;
    }
  }
  return best_index;
}

}  // namespace

// One block = one scale: the searched scale is stored as fp16 and the codes re-chosen with the
// unrounded scale (quantize_row_iq4_nl_impl with super_block_size == block_size).
void quantize_iq4_nl_row(const float* x, BlockIQ4_NL* y, std::int64_t n_per_row, const float* qw) {
  for (std::int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
    const float* xb = x + QK32 * ib;
    float weight[QK32];
    iq4_weights(xb, qw ? qw + QK32 * ib : nullptr, iq4_sigma2(xb, QK32), weight);
    std::uint8_t L[QK32] = {};
    const float scale = iq4_block_scale(xb, weight, L);
    y[ib].d = fp32_to_fp16(scale);
    const float id = scale != 0 ? 1 / scale : 0;
    for (int j = 0; j < QK32; ++j) L[j] = static_cast<std::uint8_t>(best_index_int8(kIQ4NLValues, id * xb[j]));
    pack_iq4(L, y[ib].qs);
  }
}

// Eight block scales, then d = max_scale / -32 (max_scale: the signed one of largest magnitude), each
// block scale rounded to l in [-32, 31] and the codes re-chosen with d * l (d unrounded).
void quantize_iq4_xs_row(const float* x, BlockIQ4_XS* y, std::int64_t n_per_row, const float* qw) {
  constexpr int kSub = QK_K / QK32;
  for (std::int64_t ibl = 0; ibl < n_per_row / QK_K; ++ibl) {
    const float* xs = x + QK_K * ibl;
    const float* ws = qw ? qw + QK_K * ibl : nullptr;
    const float sigma2 = iq4_sigma2(xs, QK_K);
    float scales[kSub];
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < kSub; ++ib) {
      float weight[QK32];
      std::uint8_t L[QK32];
      iq4_weights(xs + QK32 * ib, ws ? ws + QK32 * ib : nullptr, sigma2, weight);
      scales[ib] = iq4_block_scale(xs + QK32 * ib, weight, L);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    BlockIQ4_XS& b = y[ibl];
    b.scales_h = 0;
    const float d = -max_scale / 32;
    b.d = fp32_to_fp16(d);
    const float id = d != 0 ? 1 / d : 0.f;
    for (int ib = 0; ib < kSub; ++ib) {
      const int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0 ? 1 / dl : 0.f;
      std::uint8_t L[QK32];
      for (int j = 0; j < QK32; ++j) L[j] = static_cast<std::uint8_t>(best_index_int8(kIQ4NLValues, idl * xs[QK32 * ib + j]));
      pack_iq4(L, b.qs + 16 * ib);
      // 6-bit code l + 32: low nibble in scales_l (two per byte), top two bits in scales_h.
      const int code = l + 32;
      if (ib % 2 == 0) b.scales_l[ib / 2] = static_cast<std::uint8_t>(code & 0xF);
      else b.scales_l[ib / 2] = static_cast<std::uint8_t>(b.scales_l[ib / 2] | ((code & 0xF) << 4));
      b.scales_h = static_cast<std::uint16_t>(b.scales_h | ((code >> 4) << (2 * ib)));
    }
  }
}

// E8M0 exponent e = floor(log2(amax)) - 2 + 127 (so amax / 2^(e-127) < 8, within e2m1's range of
// 6 x 2^(e-127) up to rounding), then each value to the nearest doubled e2m1 value times 2^(e-128).
void quantize_mxfp4_ref(const float* x, BlockMXFP4* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, x += QK32) {
    float amax = 0.0f;
    for (int j = 0; j < QK32; ++j) {
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
    }
    const float e_f = std::floor(std::log2(amax)) - 2 + 127;
    const std::uint8_t e = amax > 0.0f ? static_cast<std::uint8_t>(static_cast<int>(e_f)) : 0;
    const float d = e8m0_to_fp32_half(e);
    y[i].e = e;
    for (int j = 0; j < QK32 / 2; ++j) {
      const int x0 = best_index_mxfp4(x[j], d), x1 = best_index_mxfp4(x[j + QK32 / 2], d);
      y[i].qs[j] = static_cast<std::uint8_t>(x0 | (x1 << 4));
    }
  }
}

void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK32 / 2; ++j) {
      y[j] = d * static_cast<float>(kIQ4NLValues[x[i].qs[j] & 0xf]);
      y[j + QK32 / 2] = d * static_cast<float>(kIQ4NLValues[x[i].qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint8_t* qs = x[i].qs;
    for (int ib = 0; ib < QK_K / QK32; ++ib, y += QK32, qs += 16) {
      const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((x[i].scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0xf]);
        y[j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
      }
    }
  }
}

void dequantize_mxfp4(const BlockMXFP4* x, float* y, std::int64_t k) {
  for (std::int64_t i = 0; i < k / QK32; ++i, y += QK32) {
    const float d = e8m0_to_fp32_half(x[i].e);
    for (int j = 0; j < QK32 / 2; ++j) {
      y[j] = static_cast<float>(kMXFP4Values[x[i].qs[j] & 0x0F]) * d;
      y[j + QK32 / 2] = static_cast<float>(kMXFP4Values[x[i].qs[j] >> 4]) * d;
    }
  }
}

}  // namespace qrun::gguf::detail
