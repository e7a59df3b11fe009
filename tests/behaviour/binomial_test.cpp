// Wilson score intervals and McNemar's exact test against textbook values.
#include <qrun/binomial.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
constexpr double kTable4dp = 5e-5;  // Newcombe's table prints 4 decimals
}

TEST_CASE("the 97.5 % normal quantile is 1.959964", "[binomial]") {
  REQUIRE_THAT(qrun::normal_quantile(0.975), WithinAbs(1.959963984540054, 1e-12));
  REQUIRE_THAT(qrun::normal_quantile(0.5), WithinAbs(0.0, 1e-15));
  REQUIRE_THROWS_AS(qrun::normal_quantile(1.0), std::invalid_argument);
}

TEST_CASE("Wilson intervals equal Newcombe 1998's worked examples (method 3)", "[binomial]") {
  // Newcombe, "Two-sided confidence intervals for the single proportion", Stat Med 1998, Table II.
  struct Case { std::int64_t k, n; double low, high; };
  for (const Case c : {Case{81, 263, 0.2553, 0.3662}, Case{15, 148, 0.0624, 0.1605}, Case{0, 20, 0.0, 0.1611},
                       Case{1, 29, 0.0061, 0.1718}}) {
    INFO(c.k << "/" << c.n);
    const qrun::Interval ci = qrun::wilson_interval(c.k, c.n);
    CHECK_THAT(ci.low, WithinAbs(c.low, kTable4dp));
    CHECK_THAT(ci.high, WithinAbs(c.high, kTable4dp));
  }
}

TEST_CASE("Wilson intervals at the ends have closed forms n/(n+z²) and z²/(n+z²)", "[binomial]") {
  const double z2 = 1.959963984540054 * 1.959963984540054;
  const qrun::Interval all = qrun::wilson_interval(12, 12);
  CHECK(all.high == 1.0);
  CHECK_THAT(all.low, WithinRel(12.0 / (12.0 + z2), 1e-12));
  const qrun::Interval none = qrun::wilson_interval(0, 48);
  CHECK(none.low == 0.0);
  CHECK_THAT(none.high, WithinRel(z2 / (48.0 + z2), 1e-12));
  // 4 of 10: p = 0.4, centre (0.4 + z²/20)/(1 + z²/10), half z·sqrt(0.024 + z²/400)/(1 + z²/10)
  const qrun::Interval four = qrun::wilson_interval(4, 10);
  const double d = 1 + z2 / 10, centre = (0.4 + z2 / 20) / d, half = 1.959963984540054 * std::sqrt(0.024 + z2 / 400) / d;
  CHECK_THAT(four.low, WithinAbs(centre - half, 1e-12));
  CHECK_THAT(four.high, WithinAbs(centre + half, 1e-12));
  CHECK_THAT(four.low, WithinAbs(0.1682, kTable4dp));
  CHECK_THAT(four.high, WithinAbs(0.6873, kTable4dp));
}

TEST_CASE("a Wilson interval of no trials is [0, 1] and bad counts are refused", "[binomial]") {
  const qrun::Interval e = qrun::wilson_interval(0, 0);
  CHECK(e.low == 0.0);
  CHECK(e.high == 1.0);
  CHECK_THROWS_AS(qrun::wilson_interval(3, 2), std::invalid_argument);
  CHECK_THROWS_AS(qrun::wilson_interval(-1, 2), std::invalid_argument);
}

TEST_CASE("McNemar's exact p is twice the smaller binomial tail of the discordant pairs", "[binomial]") {
  // b = 10, c = 2: 2·(C(12,0)+C(12,1)+C(12,2))/2^12 = 2·79/4096
  CHECK_THAT(qrun::mcnemar_exact(10, 2).p_value, WithinRel(158.0 / 4096.0, 1e-12));
  CHECK_THAT(qrun::mcnemar_exact(2, 10).p_value, WithinRel(158.0 / 4096.0, 1e-12));
  // All 12 discordant pairs one way: 2/4096.
  CHECK_THAT(qrun::mcnemar_exact(12, 0).p_value, WithinRel(2.0 / 4096.0, 1e-12));
  // b = 4, c = 3: 2·P(X <= 3; 7) = 2·64/128 -> capped at 1; b = c and no pairs: 1.
  CHECK(qrun::mcnemar_exact(4, 3).p_value == 1.0);
  CHECK(qrun::mcnemar_exact(5, 5).p_value == 1.0);
  CHECK(qrun::mcnemar_exact(0, 0).p_value == 1.0);
  // Agresti (Categorical Data Analysis) style example with large n stays a probability.
  const double p = qrun::mcnemar_exact(150, 86).p_value;
  CHECK(p > 0.0);
  CHECK(p < 1e-4);
  CHECK_THROWS_AS(qrun::mcnemar_exact(-1, 2), std::invalid_argument);
}

TEST_CASE("the Binomial(n, 1/2) cdf matches exact fractions", "[binomial]") {
  CHECK_THAT(qrun::binomial_half_cdf(3, 7), WithinRel(64.0 / 128.0, 1e-12));
  CHECK_THAT(qrun::binomial_half_cdf(2, 12), WithinRel(79.0 / 4096.0, 1e-12));
  CHECK_THAT(qrun::binomial_half_cdf(0, 48), WithinRel(std::ldexp(1.0, -48), 1e-12));
  CHECK(qrun::binomial_half_cdf(-1, 5) == 0.0);
  CHECK(qrun::binomial_half_cdf(5, 5) == 1.0);
}
