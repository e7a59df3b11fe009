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
  // Σ_{i<=k} C(n, i) / 2^n with log C(n, i) from lgamma, accumulated as a log-sum-exp.
  const double nn = static_cast<double>(n);
  const double log_half_n = nn * std::log(0.5);
  double max_term = -INFINITY;
  for (std::int64_t i = 0; i <= k; ++i) {
    const double t = std::lgamma(nn + 1) - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) + log_half_n;
    max_term = std::max(max_term, t);
  }
  double sum = 0.0;
  for (std::int64_t i = 0; i <= k; ++i) {
    const double t = std::lgamma(nn + 1) - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) + log_half_n;
    sum += std::exp(t - max_term);
  }
  return std::min(1.0, std::exp(max_term) * sum);
}

McNemarResult mcnemar_exact(std::int64_t b, std::int64_t c) {
  if (b < 0 || c < 0) throw std::invalid_argument("mcnemar_exact: counts must be >= 0");
  McNemarResult r{b, c, 1.0};
  if (b + c == 0) return r;
  r.p_value = std::min(1.0, 2.0 * binomial_half_cdf(std::min(b, c), b + c));
  return r;
}

}  // namespace qrun
