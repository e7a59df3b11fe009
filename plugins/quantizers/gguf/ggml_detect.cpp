// Recognising dequantized GGUF weights by re-quantization (see ggml_detect.hpp).
#include "ggml_detect.hpp"

#include "ggml_fp16.hpp"

#include <bit>

#include <cstring>
#include <vector>

namespace qrun::gguf {

namespace {

std::uint8_t nib(const std::uint8_t* qs, int j) {  // 32-value nibble layout: j < 16 low, else high of j - 16
  return j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
}

// One block's codes; `b` points at the block.
void block_codes(GgmlType t, const std::uint8_t* b, std::uint8_t* c) {
  switch (t) {
    case GgmlType::q4_0: case GgmlType::iq4_nl: for (int j = 0; j < 32; ++j) c[j] = nib(b + 2, j); break;
    case GgmlType::q4_1: for (int j = 0; j < 32; ++j) c[j] = nib(b + 4, j); break;
    case GgmlType::mxfp4: for (int j = 0; j < 32; ++j) c[j] = nib(b + 1, j); break;
    case GgmlType::q5_0: case GgmlType::q5_1: {
      const int o = t == GgmlType::q5_0 ? 2 : 4;
      const std::uint32_t qh = b[o] | b[o + 1] << 8 | b[o + 2] << 16 | static_cast<std::uint32_t>(b[o + 3]) << 24;
      for (int j = 0; j < 32; ++j) c[j] = static_cast<std::uint8_t>(nib(b + o + 4, j) | ((qh >> j) & 1u) << 4);
      break;
    }
    case GgmlType::q8_0: for (int j = 0; j < 32; ++j) c[j] = static_cast<std::uint8_t>(b[2 + j] ^ 0x80u); break;
    case GgmlType::q2_K:  // scales[16], qs[64], d, dmin
      for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j)
          for (int l = 0; l < 32; ++l) c[128 * n + 32 * j + l] = (b[16 + 32 * n + l] >> (2 * j)) & 3;
      break;
    case GgmlType::q3_K: {  // hmask[32], qs[64], scales[12], d
      int m = 0;
      for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j, ++m)
          for (int l = 0; l < 32; ++l)
            c[128 * n + 32 * j + l] = static_cast<std::uint8_t>(((b[32 + 32 * n + l] >> (2 * j)) & 3) | ((b[l] >> m) & 1) << 2);
      break;
    }
    case GgmlType::q4_K:  // d, dmin, scales[12], qs[128]
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l) c[64 * j + l] = b[16 + 32 * j + l] & 0x0F, c[64 * j + 32 + l] = b[16 + 32 * j + l] >> 4;
      break;
    case GgmlType::q5_K:  // d, dmin, scales[12], qh[32], qs[128]
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l) {
          const std::uint8_t ql = b[48 + 32 * j + l], qh = b[16 + l];
          c[64 * j + l] = static_cast<std::uint8_t>((ql & 0x0F) | ((qh >> (2 * j)) & 1) << 4);
          c[64 * j + 32 + l] = static_cast<std::uint8_t>((ql >> 4) | ((qh >> (2 * j + 1)) & 1) << 4);
        }
      break;
    case GgmlType::q6_K:  // ql[128], qh[64], scales[16], d
      for (int n = 0; n < 2; ++n)
        for (int l = 0; l < 32; ++l) {
          const std::uint8_t* ql = b + 64 * n;
          const std::uint8_t qh = b[128 + 32 * n + l];
          c[128 * n + l] = static_cast<std::uint8_t>((ql[l] & 0x0F) | (qh & 3) << 4);
          c[128 * n + l + 32] = static_cast<std::uint8_t>((ql[l + 32] & 0x0F) | ((qh >> 2) & 3) << 4);
          c[128 * n + l + 64] = static_cast<std::uint8_t>((ql[l] >> 4) | ((qh >> 4) & 3) << 4);
          c[128 * n + l + 96] = static_cast<std::uint8_t>((ql[l + 32] >> 4) | ((qh >> 6) & 3) << 4);
        }
      break;
    case GgmlType::iq4_xs:  // d, scales_h, scales_l[4], qs[128]
      for (int ib = 0; ib < 8; ++ib)
        for (int j = 0; j < 32; ++j) c[32 * ib + j] = nib(b + 8 + 16 * ib, j);
      break;
    default: break;
  }
}

}  // namespace

void unpack_codes(GgmlType type, const void* blocks, std::int64_t k, std::uint8_t* codes) {
  const auto& tr = traits(type);
  const auto* p = static_cast<const std::uint8_t*>(blocks);
  for (std::int64_t i = 0; i < k / tr.block_size; ++i) block_codes(type, p + i * tr.type_size, codes + i * tr.block_size);
}

std::vector<GgmlType> detection_order() {
  using T = GgmlType;
  // bits per weight: q2_K 2.625, q3_K 3.4375, q4_0 4.5, iq4_nl 4.5, iq4_xs 4.25, mxfp4 4.25,
  // q4_1 5, q4_K 4.5, q5_0 5.5, q5_1 6, q5_K 5.5, q6_K 6.5625, q8_0 8.5
  return {T::q2_K, T::q3_K, T::iq4_xs, T::mxfp4, T::q4_0, T::iq4_nl, T::q4_K,
          T::q4_1, T::q5_0, T::q5_K, T::q5_1, T::q6_K, T::q8_0};
}

namespace {

// v rounded to the storage dtype and widened back (round to nearest even; inputs finite).
float stored(float v, Storage s) {
  if (s == Storage::f16) return fp16_to_fp32(fp32_to_fp16(v));
  if (s == Storage::bf16) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(v);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return std::bit_cast<float>(u & 0xFFFF0000u);
  }
  return v;
}

bool same_block(const float* x, const float* y, std::int64_t n, Storage s) {
  if (s == Storage::f32) return std::memcmp(x, y, static_cast<std::size_t>(n) * sizeof(float)) == 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (std::bit_cast<std::uint32_t>(stored(y[i], s)) != std::bit_cast<std::uint32_t>(x[i])) return false;
  return true;
}

}  // namespace

TypeMatch match_type(GgmlType type, const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step,
                     Storage storage) {
  TypeMatch m{type};
  const std::int64_t bs = traits(type).block_size;
  const std::size_t rs = row_size(type, cols);
  std::vector<std::uint16_t> bytes((rs + 1) / 2);
  std::vector<float> plain(static_cast<std::size_t>(cols)), uniform(static_cast<std::size_t>(cols));
  const std::vector<float> ones(static_cast<std::size_t>(cols), 1.0f);
  for (std::int64_t r = 0; r < rows; r += row_step < 1 ? 1 : row_step) {
    const float* xr = x + r * cols;
    quantize_rows(type, xr, bytes.data(), 1, cols, nullptr);
    dequantize_values(type, bytes.data(), plain.data(), cols);
    quantize_rows(type, xr, bytes.data(), 1, cols, ones.data());
    dequantize_values(type, bytes.data(), uniform.data(), cols);
    for (std::int64_t b0 = 0; b0 < cols; b0 += bs) {
      bool zero = true;
      for (std::int64_t i = b0; i < b0 + bs && zero; ++i) zero = xr[i] == 0.0f;
      if (zero) continue;
      ++m.blocks;
      if (same_block(xr + b0, plain.data() + b0, bs, storage) || same_block(xr + b0, uniform.data() + b0, bs, storage))
        ++m.matched;
    }
  }
  return m;
}

MatrixDetection detect_matrix(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step,
                              double threshold, Storage storage) {
  MatrixDetection d;
  const TypeMatch* best = nullptr;
  for (GgmlType t : detection_order()) {
    if (cols % traits(t).block_size != 0) continue;
    d.matches.push_back(match_type(t, x, rows, cols, row_step, storage));
  }
  for (const TypeMatch& m : d.matches)
    if (m.blocks > 0 && (!best || m.rate() > best->rate())) best = &m;
  if (best) {
    d.rate = best->rate();
    if (d.rate >= threshold) d.type = best->type;
  }
  return d;
}

}  // namespace qrun::gguf
