// Wilson score intervals and McNemar's exact test (qrun/binomial.hpp).
#include <qrun/binomial.hpp>

#include <boost/math/special_functions/erf.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace qrun {

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("normal_quantile: p must be in (0, 1), got " + std::to_string(p));
  // Φ⁻¹(p) = −√2 · erfc⁻¹(2p)
  return -std::sqrt(2.0) * boost::math::erfc_inv(2.0 * p);
}

Interval wilson_interval(std::int64_t k, std::int64_t n, double confidence) {
  if (k < 0 || n < 0 || k > n)
    throw std::invalid_argument("wilson_interval: need 0 <= k <= n, got k=" + std::to_string(k) + " n=" + std::to_string(n));
  if (!(confidence > 0.0 && confidence < 1.0))
    throw std::invalid_argument("wilson_interval: confidence must be in (0, 1)");
  if (n == 0) return {0.0, 1.0};
  const double z = normal_quantile(0.5 + confidence / 2.0);
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  // k = 0 and k = n give exactly 0 and 1 in exact arithmetic; clamp the rounding.
  Interval out{std::max(0.0, centre - half), std::min(1.0, centre + half)};
  if (k == 0) out.low = 0.0;
  if (k == n) out.high = 1.0;
  return out;
}

double binomial_half_cdf(std::int64_t k, std::int64_t n) {
  if (n < 0) throw std::invalid_argument("binomial_half_cdf: n must be >= 0");
  if (k < 0) return 0.0;
  if (k >= n) return 1.0;
  const std::int64_t m = std::min(k, n - k - 1);  // the shorter side: P(X <= k) = 1 − P(X <= n−k−1)
  double tail;
  if (n <= 16000) {
    // Σ_{i<=m} C(n, i) by C(n, i+1) = C(n, i)·(n−i)/(i+1) in long double (exact to rounding, no
    // overflow below 2^16384), times 2^−n.
    long double term = 1, sum = 1;
    for (std::int64_t i = 0; i < m; ++i) {
      term = term * static_cast<long double>(n - i) / static_cast<long double>(i + 1);
      sum += term;
    }
    tail = static_cast<double>(std::ldexp(sum, static_cast<int>(-n)));
  } else {
    // log C(n, i) − n log 2 from lgamma, summed as a log-sum-exp.
    const double nn = static_cast<double>(n);
    auto log_term = [&](std::int64_t i) {
      return std::lgamma(nn + 1) - std::lgamma(static_cast<double>(i) + 1) - std::lgamma(static_cast<double>(n - i) + 1) -
             nn * std::log(2.0);
    };
    const double top = log_term(m);  // the largest term of the lower tail (m < n/2)
    double sum = 0;
    for (std::int64_t i = 0; i <= m; ++i) sum += std::exp(log_term(i) - top);
    tail = std::exp(top) * sum;
  }
  return m == k ? tail : 1.0 - tail;
}

McNemarResult mcnemar_exact(std::int64_t b, std::int64_t c) {
  if (b < 0 || c < 0) throw std::invalid_argument("mcnemar_exact: counts must be >= 0");
  McNemarResult r{b, c, 1.0};
  // With min(b, c) >= (b + c − 1)/2 the smaller tail holds at least half the mass: p = 1 exactly.
  if (2 * std::min(b, c) + 1 >= b + c) return r;
  r.p_value = std::min(1.0, 2.0 * binomial_half_cdf(std::min(b, c), b + c));
  return r;
}

}  // namespace qrun
