// RunningStats and PairedStats against direct two-pass float64 formulas.
#include <qrun/stats.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
// 1e-12 relative: one-pass vs two-pass float64 on a few values differ only by rounding.
constexpr double kRoundingTol = 1e-12;

const std::vector<double> kXs = {2.5, -1.0, 4.25, 0.125, 3.0, 7.5, -2.75, 1.0};
const std::vector<double> kYs = {1.0, 0.5, 3.0, -0.25, 2.0, 5.0, -1.5, 0.75};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double var_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}
double cov_of(const std::vector<double>& a, const std::vector<double>& b) {
  const double ma = mean_of(a), mb = mean_of(b);
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - ma) * (b[i] - mb);
  return s / static_cast<double>(a.size() - 1);
}
}  // namespace

TEST_CASE("RunningStats gives the two-pass mean, variance, stderr and rms", "[stats]") {
  qrun::RunningStats s;
  for (double x : kXs) s.add(x);
  const double n = static_cast<double>(kXs.size());
  REQUIRE(s.n() == 8);
  REQUIRE_THAT(s.mean(), WithinRel(mean_of(kXs), kRoundingTol));
  REQUIRE_THAT(s.variance(), WithinRel(var_of(kXs), kRoundingTol));
  REQUIRE_THAT(s.stderr_(), WithinRel(std::sqrt(var_of(kXs) / n), kRoundingTol));
  double sq = 0;
  for (double x : kXs) sq += x * x;
  REQUIRE_THAT(s.rms(), WithinRel(std::sqrt(sq / n), kRoundingTol));
  REQUIRE(s.min() == -2.75);
  REQUIRE(s.max() == 7.5);
}

TEST_CASE("RunningStats stderr equals llama.cpp's sqrt((sum2/n - mean^2)/(n-1))", "[stats]") {
  qrun::RunningStats s;
  double sum = 0, sum2 = 0;
  for (double x : kXs) {
    s.add(x);
    sum += x;
    sum2 += x * x;
  }
  const double n = static_cast<double>(kXs.size());
  const double f = sum / n;
  const double llama = std::sqrt((sum2 / n - f * f) / (n - 1));
  REQUIRE_THAT(s.stderr_(), WithinRel(llama, kRoundingTol));
}

TEST_CASE("RunningStats merged from two halves equals one pass over all values", "[stats]") {
  qrun::RunningStats all, a, b;
  for (std::size_t i = 0; i < kXs.size(); ++i) {
    all.add(kXs[i]);
    (i < 3 ? a : b).add(kXs[i]);
  }
  a.merge(b);
  REQUIRE(a.n() == all.n());
  REQUIRE_THAT(a.mean(), WithinRel(all.mean(), kRoundingTol));
  REQUIRE_THAT(a.variance(), WithinRel(all.variance(), kRoundingTol));
  REQUIRE(a.min() == all.min());
  REQUIRE(a.max() == all.max());
}

TEST_CASE("RunningStats merging into or from an empty one keeps the other", "[stats]") {
  qrun::RunningStats empty, s;
  s.add(1.0);
  s.add(3.0);
  qrun::RunningStats copy = s;
  copy.merge(empty);
  REQUIRE(copy.n() == 2);
  REQUIRE(copy.mean() == 2.0);
  empty.merge(s);
  REQUIRE(empty.n() == 2);
  REQUIRE(empty.variance() == 2.0);
}

TEST_CASE("RunningStats with fewer than two values has zero variance and stderr", "[stats]") {
  qrun::RunningStats s;
  REQUIRE(s.n() == 0);
  REQUIRE(s.mean() == 0.0);
  REQUIRE(s.stderr_() == 0.0);
  s.add(5.0);
  REQUIRE(s.mean() == 5.0);
  REQUIRE(s.variance() == 0.0);
  REQUIRE(s.stderr_() == 0.0);
}

TEST_CASE("PairedStats gives the two-pass covariance and correlation", "[stats]") {
  qrun::PairedStats p;
  for (std::size_t i = 0; i < kXs.size(); ++i) p.add(kXs[i], kYs[i]);
  const double n = static_cast<double>(kXs.size());
  REQUIRE_THAT(p.covariance(), WithinRel(cov_of(kXs, kYs), kRoundingTol));
  REQUIRE_THAT(p.covariance_of_means(), WithinRel(cov_of(kXs, kYs) / n, kRoundingTol));
  REQUIRE_THAT(p.correlation(), WithinRel(cov_of(kXs, kYs) / std::sqrt(var_of(kXs) * var_of(kYs)), kRoundingTol));
}

TEST_CASE("PairedStats stderr of the mean difference is the stderr of the paired differences", "[stats]") {
  // Var(mean(x) - mean(y)) = Var(mean(x - y)): the covariance term makes them equal.
  qrun::PairedStats p;
  std::vector<double> d;
  for (std::size_t i = 0; i < kXs.size(); ++i) {
    p.add(kXs[i], kYs[i]);
    d.push_back(kXs[i] - kYs[i]);
  }
  REQUIRE_THAT(p.stderr_of_mean_difference(),
               WithinRel(std::sqrt(var_of(d) / static_cast<double>(d.size())), 1e-10));
}

TEST_CASE("PairedStats merged from two halves equals one pass", "[stats]") {
  qrun::PairedStats all, a, b;
  for (std::size_t i = 0; i < kXs.size(); ++i) {
    all.add(kXs[i], kYs[i]);
    (i < 5 ? a : b).add(kXs[i], kYs[i]);
  }
  a.merge(b);
  REQUIRE(a.n() == all.n());
  REQUIRE_THAT(a.covariance(), WithinRel(all.covariance(), kRoundingTol));
  REQUIRE_THAT(a.y().mean(), WithinRel(all.y().mean(), kRoundingTol));
}

TEST_CASE("PairedStats of a series with itself has correlation one", "[stats]") {
  qrun::PairedStats p;
  for (double x : kXs) p.add(x, x);
  REQUIRE_THAT(p.correlation(), WithinAbs(1.0, kRoundingTol));
  REQUIRE_THAT(p.stderr_of_mean_difference(), WithinAbs(0.0, 1e-9));
}
