// Quantization boxes for ggml's types (plugins/quantizers/gguf/ggml_box.hpp): every weight drawn
// inside its box at once must give ggml's block bytes back (every type, with and without an
// importance matrix, on matrices with outliers, an all-zero block and a block with one non-zero
// value); exact boxes must end exactly (one float32 beyond an end changes the block) and have the
// width of the block's step (an independent check: amax/127 for q8_0, amax/8 for q4_0, its
// (max - min)/15 for q4_1); certified boxes must survive fresh draws, other than certification's.
#include <ggml_box.hpp>
#include <ggml_types.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace qrun::gguf;

namespace {

constexpr std::int64_t kRows = 2, kCols = 512;

// Gaussian weights (std 0.02) with outliers (x25), an all-zero block and a block of one non-zero value.
std::vector<float> test_matrix(std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(static_cast<std::size_t>(kRows * kCols));
  for (float& v : x) v = nd(g);
  for (int k = 0; k < 6; ++k) x[(g() % x.size())] *= 25.0f;
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  std::fill(x.begin() + kCols + 64, x.begin() + kCols + 96, 0.0f);
  x[kCols + 70] = -0.03f;
  return x;
}

std::vector<float> test_imatrix(std::uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(0.01f, 2.0f);
  std::vector<float> im(static_cast<std::size_t>(kCols));
  for (float& v : im) v = u(g);
  return im;
}

struct Quantized {
  std::vector<std::uint16_t> words;  // 2-byte aligned, as quantize_rows wants
  std::size_t n;
  bool operator==(const Quantized& o) const { return std::memcmp(words.data(), o.words.data(), n) == 0; }
};
Quantized quantize(GgmlType t, const std::vector<float>& x, const float* im) {
  const std::size_t n = row_size(t, kCols) * kRows;
  Quantized q{std::vector<std::uint16_t>((n + 1) / 2), n};
  quantize_rows(t, x.data(), q.words.data(), kRows, kCols, im);
  return q;
}

struct Box {
  std::vector<float> lo, hi;
  std::vector<std::uint8_t> held;
  BoxStats stats;
};
Box boxes_of(GgmlType t, const std::vector<float>& x, const float* im) {
  Box b{std::vector<float>(x.size()), std::vector<float>(x.size()), std::vector<std::uint8_t>(x.size()), {}};
  b.stats = quantization_boxes(t, x.data(), kRows, kCols, im, b.lo.data(), b.hi.data(), b.held.data());
  return b;
}

// `draws` matrices inside the boxes (even draws: uniform, odd: random corners); returns how many
// re-quantize to other bytes than `ref`.
int failing_draws(GgmlType t, const Box& b, const float* im, const Quantized& ref, int draws, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> y(b.lo.size());
  int failed = 0;
  for (int d = 0; d < draws; ++d) {
    for (std::size_t i = 0; i < y.size(); ++i) {
      const float a = u(g);
      y[i] = d % 2 ? (a < 0.5f ? b.lo[i] : b.hi[i]) : std::clamp(b.lo[i] + a * (b.hi[i] - b.lo[i]), b.lo[i], b.hi[i]);
    }
    if (!(quantize(t, y, im) == ref)) ++failed;
  }
  return failed;
}

std::vector<GgmlType> exact_types() {
  return {GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0, GgmlType::mxfp4};
}

}  // namespace

TEST_CASE("ggml boxes: a matrix drawn inside its boxes quantizes to the same blocks, every type and path", "[gguf][box]") {
  const std::vector<float> x = test_matrix(11);
  const std::vector<float> imatrix = test_imatrix(12);
  for (GgmlType t : quantized_types())
    for (bool with_imatrix : {false, true}) {
      const float* im = with_imatrix ? imatrix.data() : nullptr;
      INFO(type_name(t) << (with_imatrix ? " with imatrix" : " without imatrix") << " (" << to_string(box_kind(t, with_imatrix))
                        << ")");
      const Box b = boxes_of(t, x, im);
      std::int64_t free = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        REQUIRE(b.lo[i] <= x[i]);
        REQUIRE(x[i] <= b.hi[i]);
        if (b.held[i]) REQUIRE((b.lo[i] == x[i] && b.hi[i] == x[i]));
        free += b.hi[i] > b.lo[i];
      }
      // Not a degenerate answer where the algorithm leaves room: without an imatrix a share of the
      // weights may move (measured 20-95 % by type). The imatrix paths' searches return a float scale
      // rounded to fp16 (legacy types) or weigh by a super-block sigma^2, so there nearly every box
      // is frozen: boxes count, not a share.
      if (!with_imatrix) CHECK(free >= static_cast<std::int64_t>(x.size()) / 10);
      const Quantized ref = quantize(t, x, im);
      CHECK(failing_draws(t, b, im, ref, 400, 1234) == 0);
    }
}

TEST_CASE("ggml exact boxes end exactly: one float32 beyond an end changes the block", "[gguf][box]") {
  const std::vector<float> x = test_matrix(21);
  for (GgmlType t : exact_types()) {
    INFO(type_name(t));
    REQUIRE(box_kind(t, false) == BoxKind::exact);
    const Box b = boxes_of(t, x, nullptr);
    const Quantized ref = quantize(t, x, nullptr);
    const bool asym = is_asymmetric(t);
    std::int64_t checked = 0;
    for (std::int64_t b0 = 0; b0 < kRows * kCols; b0 += 32) {
      // The frozen extremes: one per block (largest magnitude) or two (minimum and maximum).
      int held = 0;
      float cap_lo = 0, cap_hi = 0;
      for (std::int64_t i = b0; i < b0 + 32; ++i) {
        held += b.held[i];
        cap_lo = std::min(cap_lo, asym ? x[i] : -std::fabs(x[i]));
        cap_hi = std::max(cap_hi, asym ? x[i] : std::fabs(x[i]));
      }
      if (asym) cap_lo = *std::min_element(x.begin() + b0, x.begin() + b0 + 32);
      if (asym) cap_hi = *std::max_element(x.begin() + b0, x.begin() + b0 + 32);
      CHECK(held == (asym && cap_lo != cap_hi ? 2 : 1));
      for (std::int64_t i = b0; i < b0 + 32; ++i) {
        if (b.held[i]) continue;
        std::vector<float> y = x;
        for (const float beyond : {next_up(b.hi[i]), next_down(b.lo[i])}) {
          if (beyond > cap_hi || beyond < cap_lo) continue;  // beyond the frozen extreme
          y[static_cast<std::size_t>(i)] = beyond;
          INFO("weight " << i << " = " << x[i] << ", box [" << b.lo[i] << ", " << b.hi[i] << "], tried " << beyond);
          CHECK_FALSE(quantize(t, y, nullptr) == ref);
          ++checked;
        }
      }
    }
    CHECK(checked > kRows * kCols);  // most weights have two code boundaries as ends
  }
}

TEST_CASE("ggml exact boxes are one quantization step wide inside the grid (q8_0, q4_0, q4_1)", "[gguf][box]") {
  const std::vector<float> x = test_matrix(31);
  for (GgmlType t : {GgmlType::q8_0, GgmlType::q4_0, GgmlType::q4_1}) {
    INFO(type_name(t));
    const Box b = boxes_of(t, x, nullptr);
    std::int64_t interior = 0;
    for (std::int64_t b0 = 0; b0 < kRows * kCols; b0 += 32) {
      float amax = 0, mn = x[b0], mx = x[b0];
      for (std::int64_t i = b0; i < b0 + 32; ++i) {
        amax = std::max(amax, std::fabs(x[i]));
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
      }
      if (amax == 0) continue;
      // The step of the block's grid, from ggml's formulas (d = amax/127, max/-8, (max-min)/15).
      const double step = t == GgmlType::q8_0 ? amax / 127.0 : t == GgmlType::q4_0 ? amax / 8.0 : (mx - mn) / 15.0;
      for (std::int64_t i = b0; i < b0 + 32; ++i) {
        // Interior: both ends are code boundaries, a step away from the extremes' caps.
        const double lo_cap = t == GgmlType::q4_1 ? mn : -amax, hi_cap = t == GgmlType::q4_1 ? mx : amax;
        if (b.held[i] || b.lo[i] - lo_cap < 2 * step || hi_cap - b.hi[i] < 2 * step) continue;
        // Each end is a float32 next to a real-valued boundary: up to one ulp of the block's scale each.
        const double ulp = std::ldexp(static_cast<double>(amax), -23);
        CHECK(std::fabs(static_cast<double>(b.hi[i]) - b.lo[i] - step) <= 2 * ulp + 1e-6 * step);
        ++interior;
      }
    }
    CHECK(interior > kRows * kCols / 4);
  }
}

TEST_CASE("ggml certified boxes survive fresh draws on larger matrices of k-quants", "[gguf][box]") {
  // Draws of another stream and another matrix than the first case; 1000 draws each.
  const std::vector<float> x = test_matrix(41);
  const std::vector<float> imatrix = test_imatrix(42);
  for (GgmlType t : {GgmlType::q2_K, GgmlType::q3_K, GgmlType::q4_K, GgmlType::q5_K, GgmlType::q6_K, GgmlType::iq4_xs})
    for (bool with_imatrix : {false, true}) {
      const float* im = with_imatrix ? imatrix.data() : nullptr;
      INFO(type_name(t) << (with_imatrix ? " with imatrix" : " without imatrix"));
      REQUIRE(box_kind(t, with_imatrix) == BoxKind::certified);
      const Box b = boxes_of(t, x, im);
      CHECK(b.stats.draws >= 2 * 1024 * kRows * kCols / 256);  // two certification rounds per super-block
      CHECK(failing_draws(t, b, im, quantize(t, x, im), 1000, 99) == 0);
    }
}
