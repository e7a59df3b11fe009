// Recognising dequantized GGUF weights by re-quantization (see ggml_detect.hpp).
#include "ggml_detect.hpp"

#include <cstring>
#include <vector>

namespace qrun::gguf {

std::vector<GgmlType> detection_order() {
  using T = GgmlType;
  // bits per weight: q2_K 2.625, q3_K 3.4375, q4_0 4.5, iq4_nl 4.5, iq4_xs 4.25, mxfp4 4.25,
  // q4_1 5, q4_K 4.5, q5_0 5.5, q5_1 6, q5_K 5.5, q6_K 6.5625, q8_0 8.5
  return {T::q2_K, T::q3_K, T::iq4_xs, T::mxfp4, T::q4_0, T::iq4_nl, T::q4_K,
          T::q4_1, T::q5_0, T::q5_K, T::q5_1, T::q6_K, T::q8_0};
}

TypeMatch match_type(GgmlType type, const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step) {
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
      const std::size_t n = static_cast<std::size_t>(bs) * sizeof(float);
      if (std::memcmp(xr + b0, plain.data() + b0, n) == 0 || std::memcmp(xr + b0, uniform.data() + b0, n) == 0) ++m.matched;
    }
  }
  return m;
}

MatrixDetection detect_matrix(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t row_step,
                              double threshold) {
  MatrixDetection d;
  const TypeMatch* best = nullptr;
  for (GgmlType t : detection_order()) {
    if (cols % traits(t).block_size != 0) continue;
    d.matches.push_back(match_type(t, x, rows, cols, row_step));
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
