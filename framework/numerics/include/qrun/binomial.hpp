// Binomial statistics for behavioural metrics (refusal, content injection, multiple-choice flips):
// Wilson score intervals for a rate and McNemar's exact test for paired yes/no outcomes.
// Everything in double; counts in int64.
#pragma once

#include <cstdint>

namespace qrun {

// A two-sided confidence interval [low, high] for a proportion, both in [0, 1].
struct Interval {
  double low = 0;
  double high = 0;
};

// The standard normal quantile z with P(Z <= z) = p, p in (0, 1) (Boost.Math's inverse erfc).
// Throws std::invalid_argument outside (0, 1).
double normal_quantile(double p);

// Wilson score interval (Wilson 1927; Newcombe 1998, method 3, without continuity correction)
// for k successes in n trials at two-sided confidence `confidence` (0.95: z = 1.959964):
//   centre = (p̂ + z²/2n) / (1 + z²/n),  half = z·sqrt(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n),  p̂ = k/n.
// n == 0 gives [0, 1] (no information). Throws std::invalid_argument when k < 0, k > n or
// confidence is not in (0, 1).
Interval wilson_interval(std::int64_t k, std::int64_t n, double confidence = 0.95);

// Paired yes/no outcomes of the same items under two conditions (baseline, variant).
struct McNemarResult {
  std::int64_t b = 0;        // yes under the first, no under the second (e.g. right -> wrong)
  std::int64_t c = 0;        // no under the first, yes under the second (e.g. wrong -> right)
  double p_value = 1;        // exact two-sided p
};

// McNemar's exact test: under H0 the b + c discordant pairs split Binomial(b + c, 1/2); the
// two-sided p-value is min(1, 2·P(X <= min(b, c))) (the conditional exact test, e.g. Fagerland,
// Lydersen & Laake 2013, "The McNemar test for binary matched-pairs data"). b + c == 0 gives 1.
// Throws std::invalid_argument for negative counts.
McNemarResult mcnemar_exact(std::int64_t b, std::int64_t c);

// P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (exact to double rounding for any n).
double binomial_half_cdf(std::int64_t k, std::int64_t n);

}  // namespace qrun
