// Code books and value -> code rounding against bitsandbytes' constants and decision trees.
#include <qrun/quant/codebook.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

using namespace qrun::quant;

namespace {
float up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }
float down(float x) { return std::nextafter(x, -std::numeric_limits<float>::infinity()); }
}  // namespace

TEST_CASE("nf4 code book equals bitsandbytes' float32 constants", "[quant][codebook]") {
  // bitsandbytes csrc/kernels.cu nf4_dequantization_lut (same values as functional.get_4bit_type("nf4"))
  const float expected[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                              -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                              0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                              0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                              0.7229568362236023f, 1.0f};
  for (int i = 0; i < 16; ++i) REQUIRE(nf4_code_book()[i] == expected[i]);
}

TEST_CASE("fp4 code book equals bitsandbytes' CUDA look-up table with a signed zero at code 8",
          "[quant][codebook]") {
  // csrc/kernels.cu fp4_dequantization_lut, negated for codes 8..15 (dDequantizeFP4Tree)
  const float lut[8] = {0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f, 0.5f, 0.16666667f, 0.25f};
  for (int i = 0; i < 8; ++i) {
    REQUIRE(fp4_code_book()[i] == lut[i]);
    REQUIRE(fp4_code_book()[i + 8] == -lut[i]);
  }
  REQUIRE(std::signbit(fp4_code_book()[8]));
  REQUIRE_FALSE(std::signbit(fp4_code_book()[0]));
}

TEST_CASE("nf4 thresholds are the midpoints of neighbouring codes within a float ulp", "[quant][codebook]") {
  // bitsandbytes took the midpoints of the float64 code values; the float32 codes differ from those
  // by under half an ulp, so the float32 midpoint may land one ulp away.
  for (int k = 0; k < 15; ++k) {
    const float mid = static_cast<float>((static_cast<double>(nf4_code_book()[k]) + nf4_code_book()[k + 1]) / 2.0);
    const float t = nf4_thresholds()[k];
    CAPTURE(k, t, mid);
    REQUIRE((t == mid || t == up(mid) || t == down(mid)));
  }
}

TEST_CASE("nf4 rounding sends each midpoint to the lower code and the next float up to the upper",
          "[quant][codebook][rounding]") {
  for (int k = 0; k < 15; ++k) {
    const float t = nf4_thresholds()[k];
    CAPTURE(k, t);
    REQUIRE(quantize_nf4_value(t) == k);            // dQuantizeNF4 tests x > t: a tie goes down
    REQUIRE(quantize_nf4_value(down(t)) == k);
    REQUIRE(quantize_nf4_value(up(t)) == k + 1);
  }
  REQUIRE(quantize_nf4_value(-1.0f) == 0);
  REQUIRE(quantize_nf4_value(1.0f) == 15);
  REQUIRE(quantize_nf4_value(0.0f) == 7);
}

TEST_CASE("fp4 rounding at every midpoint, both signs, follows dQuantizeFP4", "[quant][codebook][rounding]") {
  const std::uint8_t leaf[8] = {0b0000, 0b0001, 0b0110, 0b0111, 0b0100, 0b0101, 0b0010, 0b0011};
  for (int k = 0; k < 7; ++k) {
    const float t = fp4_magnitude_thresholds()[k];
    CAPTURE(k, t);
    REQUIRE(quantize_fp4_value(t) == leaf[k]);
    REQUIRE(quantize_fp4_value(down(t)) == leaf[k]);
    REQUIRE(quantize_fp4_value(up(t)) == leaf[k + 1]);
    REQUIRE(quantize_fp4_value(-t) == leaf[k] + 8);
    REQUIRE(quantize_fp4_value(-up(t)) == leaf[k + 1] + 8);
    // the threshold lies within a float ulp or two of the midpoint of the two magnitudes
    const float lo = fp4_code_book()[leaf[k]], hi = fp4_code_book()[leaf[k + 1]];
    REQUIRE(std::fabs(t - (lo + hi) / 2) <= 1e-6f);
  }
  REQUIRE(quantize_fp4_value(-0.0f) == 0);  // -0.0 < 0 is false: positive zero
  REQUIRE(quantize_fp4_value(-1e-9f) == 8);
}

TEST_CASE("nf4 and fp4 rounding pick the nearest code away from midpoints", "[quant][codebook][rounding]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (FourBit type : {FourBit::nf4, FourBit::fp4}) {
    const auto& book = code_book(type);
    for (int i = 0; i < 20000; ++i) {
      const float x = u(rng);
      double best = 1e9, second = 1e9;
      int arg = -1;
      for (int c = 0; c < 16; ++c) {
        const double d = std::fabs(static_cast<double>(x) - book[c]);
        if (d < best) { second = best; best = d; arg = c; }
        else if (d < second && book[c] != book[arg]) second = d;
      }
      if (second - best < 1e-6) continue;  // within a hair of a midpoint: covered above
      CAPTURE(x);
      REQUIRE(book[quantize_4bit_value(type, x)] == book[arg]);
    }
  }
}

TEST_CASE("NaN maps to code 0 as the CUDA trees do", "[quant][codebook]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  REQUIRE(quantize_nf4_value(nan) == 0);
  REQUIRE(quantize_fp4_value(nan) == 0);
}

TEST_CASE("the signed dynamic map has create_dynamic_map's structure", "[quant][codebook][dynamic]") {
  const auto& m = dynamic_map_signed();
  for (int i = 0; i < 255; ++i) REQUIRE(m[i] < m[i + 1]);
  REQUIRE(m[127] == 0.0f);
  REQUIRE(m[255] == 1.0f);
  for (int i = 0; i < 127; ++i) REQUIRE(m[i] == -m[254 - i]);  // every value but 1.0 has its negative
  // smallest positive: mean of linspace(0.1, 1, 2) = (0.1f + 1.0f) / 2 times float32(1e-6)
  const float mean0 = (0.1f + 1.0f) / 2.0f;
  REQUIRE(m[128] == mean0 * static_cast<float>(1e-6));
  REQUIRE_THAT(m[0], Catch::Matchers::WithinAbs(-0.99296875, 1e-6));  // -(b63 + b64) / 2, step 0.9/64
}

TEST_CASE("dynamic-map rounding sends each midpoint to the searched even leaf", "[quant][codebook][rounding]") {
  const auto& m = dynamic_map_signed();
  for (int i = 0; i < 255; ++i) {
    const float mid = (m[i] + m[i + 1]) * 0.5f;
    CAPTURE(i, mid);
    REQUIRE(quantize_dynamic_value(m, m[i]) == i);
    REQUIRE(quantize_dynamic_value(m, mid) == (i % 2 == 0 ? i : i + 1));  // dQuantize<0>'s tie rule
    REQUIRE(quantize_dynamic_value(m, down(mid)) == i);
    REQUIRE(quantize_dynamic_value(m, up(mid)) == i + 1);
  }
  REQUIRE(quantize_dynamic_value(m, -1.0f) == 0);
  REQUIRE(quantize_dynamic_value(m, 1.0f) == 255);
}
