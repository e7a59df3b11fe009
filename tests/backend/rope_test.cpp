// The RoPE types against their definitions, evaluated here independently in double precision
// (the papers' and transformers' formulas, written out again): the rotary tables qrun computes in
// float32 must agree to float32 rounding (1e-4 here; a formula slip moves them by 1e-2 or more).
// The arch-zoo goldens cover default, linear (Gemma 3), llama3 and yarn end to end; dynamic and
// longrope, which only change tables past the original context, are checked here, including when
// they switch.
#include "rope.hpp"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

using qrun::hf::RopeSpec;
using qrun::hf::Rotary;

namespace {

constexpr double kPi = 3.141592653589793;
constexpr std::int64_t kHeadDim = 16;

std::vector<double> default_inv(double theta, std::int64_t dim) {
  std::vector<double> out;
  for (std::int64_t i = 0; i < dim / 2; ++i) out.push_back(std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(dim)));
  return out;
}

// max |cos - expected| and |sin - expected| over positions 0..n-1 (batch row 0), where
// expected = cos/sin(p * inv[i]) * scale for the first half, repeated for the second.
double table_error(Rotary& r, std::int64_t n, const std::vector<double>& inv, double scale) {
  at::Tensor pos = at::arange(n, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  at::Tensor cos, sin;
  r.tables(pos, at::kFloat, cos, sin);
  const auto half = static_cast<std::int64_t>(inv.size());
  REQUIRE(cos.sizes() == at::IntArrayRef({1, 1, n, 2 * half}));
  double err = 0;
  for (std::int64_t p = 0; p < n; ++p)
    for (std::int64_t i = 0; i < 2 * half; ++i) {
      const double angle = static_cast<double>(p) * inv[i % half];
      err = std::max(err, std::abs(cos[0][0][p][i].item<double>() - std::cos(angle) * scale));
      err = std::max(err, std::abs(sin[0][0][p][i].item<double>() - std::sin(angle) * scale));
    }
  return err;
}

}  // namespace

TEST_CASE("default and linear RoPE tables", "[backend][rope]") {
  RopeSpec s;
  s.theta = 10000;
  Rotary plain(s, kHeadDim, 64, c10::Device(c10::kCPU));
  CHECK(table_error(plain, 40, default_inv(10000, kHeadDim), 1.0) < 1e-4);
  s.type = "linear";
  s.factor = 4.0;
  Rotary linear(s, kHeadDim, 64, c10::Device(c10::kCPU));
  auto inv = default_inv(10000, kHeadDim);
  for (auto& x : inv) x /= 4.0;  // positions divided by the factor
  CHECK(table_error(linear, 40, inv, 1.0) < 1e-4);
}

TEST_CASE("llama3 RoPE: long wavelengths divided by factor, short kept, smooth between", "[backend][rope]") {
  RopeSpec s;
  s.type = "llama3";
  s.theta = 500000;
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings = 64;
  Rotary r(s, kHeadDim, 4096, c10::Device(c10::kCPU));
  auto inv = default_inv(500000, kHeadDim);
  int regions[3] = {0, 0, 0};
  for (auto& x : inv) {
    const double wavelen = 2 * kPi / x, low_w = 64 / 1.0, high_w = 64 / 4.0;
    if (wavelen < high_w) {
      ++regions[0];
    } else if (wavelen > low_w) {
      x /= 8.0;
      ++regions[2];
    } else {
      const double smooth = (64 / wavelen - 1.0) / (4.0 - 1.0);
      x = (1 - smooth) * x / 8.0 + smooth * x;
      ++regions[1];
    }
  }
  CHECK(regions[0] > 0);  // the case exercises all three
  CHECK(regions[1] > 0);
  CHECK(regions[2] > 0);
  CHECK(table_error(r, 100, inv, 1.0) < 1e-4);
}

TEST_CASE("yarn RoPE: ramp between interpolation and extrapolation, attention factor 0.1 ln(s) + 1", "[backend][rope]") {
  RopeSpec s;
  s.type = "yarn";
  s.theta = 10000;
  s.factor = 4.0;
  s.original_max_position_embeddings = 32;
  Rotary r(s, kHeadDim, 128, c10::Device(c10::kCPU));
  const double d = kHeadDim;
  auto dim_of = [&](double rotations) { return d * std::log(32 / (rotations * 2 * kPi)) / (2 * std::log(10000.0)); };
  const double low = std::max(std::floor(dim_of(32)), 0.0), high = std::min(std::ceil(dim_of(1)), d - 1);
  auto inv = default_inv(10000, kHeadDim);
  for (std::size_t i = 0; i < inv.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1 - ramp;
    inv[i] = inv[i] / 4.0 * (1 - extrapolation) + inv[i] * extrapolation;
  }
  const double attention = 0.1 * std::log(4.0) + 1.0;
  CHECK(r.attention_scaling() == Approx(attention).epsilon(1e-12));
  CHECK(table_error(r, 100, inv, attention) < 1e-4);
}

TEST_CASE("longrope RoPE: short factors up to the original context, long factors past it", "[backend][rope]") {
  RopeSpec s;
  s.type = "longrope";
  s.theta = 10000;
  s.original_max_position_embeddings = 16;
  for (int i = 0; i < kHeadDim / 2; ++i) {
    s.short_factor.push_back(1.0 + 0.05 * i);
    s.long_factor.push_back(1.0 + 0.9 * i);
  }
  Rotary r(s, kHeadDim, 64, c10::Device(c10::kCPU));  // factor = 64 / 16
  const double attention = std::sqrt(1 + std::log(4.0) / std::log(16.0));
  CHECK(r.attention_scaling() == Approx(attention).epsilon(1e-12));
  auto scaled = [&](const std::vector<double>& ext) {
    auto inv = default_inv(10000, kHeadDim);
    for (std::size_t i = 0; i < inv.size(); ++i) inv[i] /= ext[i];
    return inv;
  };
  // max(position) + 1 = 16: not past the original context; 17: past it, every position long.
  CHECK(table_error(r, 16, scaled(s.short_factor), attention) < 1e-4);
  CHECK(table_error(r, 17, scaled(s.long_factor), attention) < 1e-4);
  CHECK(table_error(r, 5, scaled(s.short_factor), attention) < 1e-4);
}

TEST_CASE("dynamic NTK RoPE: base grows with the sequence past max_position_embeddings, kept until the next",
          "[backend][rope]") {
  RopeSpec s;
  s.type = "dynamic";
  s.theta = 10000;
  s.factor = 2.0;
  Rotary r(s, kHeadDim, 32, c10::Device(c10::kCPU));
  auto dynamic_inv = [&](double len) {
    const double d = kHeadDim, base = 10000 * std::pow(2.0 * len / 32 - 1.0, d / (d - 2));
    return default_inv(base, kHeadDim);
  };
  CHECK(table_error(r, 32, default_inv(10000, kHeadDim), 1.0) < 1e-4);  // within max_position_embeddings
  CHECK(table_error(r, 50, dynamic_inv(50), 1.0) < 1e-4);
  // transformers keeps the table of its last forward past max_position_embeddings (its
  // dynamic_rope_update neither lowers max_seq_len_cached's attribute nor resets below it).
  CHECK(table_error(r, 20, dynamic_inv(50), 1.0) < 1e-4);
  CHECK(table_error(r, 40, dynamic_inv(40), 1.0) < 1e-4);
  // A copy carries that state.
  Rotary copy = r.clone_to(c10::Device(c10::kCPU));
  CHECK(table_error(copy, 10, dynamic_inv(40), 1.0) < 1e-4);
}
