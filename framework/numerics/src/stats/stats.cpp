#include <qrun/stats.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace qrun {

// Welford (1962) single-value update of the mean and the sum of squared deviations.
void RunningStats::add(double x) {
  ++n_;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (x - mean_);
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

// Chan, Golub & LeVeque (1979) pairwise combination of two partial (n, mean, M2).
void RunningStats::merge(const RunningStats& other) {
  if (other.n_ == 0) return;
  if (n_ == 0) {
    *this = other;
    return;
  }
  const double na = static_cast<double>(n_), nb = static_cast<double>(other.n_);
  const double n = na + nb;
  const double delta = other.mean_ - mean_;
  mean_ += delta * nb / n;
  m2_ += other.m2_ + delta * delta * na * nb / n;
  n_ += other.n_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double RunningStats::variance() const {
  if (n_ < 2) return 0;
  return std::max(0.0, m2_ / static_cast<double>(n_ - 1));
}

// Standard error of the mean: sqrt(s²/n).
double RunningStats::stderr_() const {
  if (n_ < 2) return 0;
  return std::sqrt(variance() / static_cast<double>(n_));
}

// RMS = sqrt(Σx²/n) with Σx² = M2 + n·mean².
double RunningStats::rms() const {
  if (n_ == 0) return 0;
  const double n = static_cast<double>(n_);
  return std::sqrt(std::max(0.0, (m2_ + n * mean_ * mean_) / n));
}

// Co-moment update: C += (x - x̄_old)(y - ȳ_new) (Welford's form for the covariance).
void PairedStats::add(double x, double y) {
  const double dx = x - x_.mean();
  x_.add(x);
  y_.add(y);
  c_ += dx * (y - y_.mean());
}

// Chan et al.'s merge for the co-moment: C = C_a + C_b + δx·δy·n_a·n_b/n.
void PairedStats::merge(const PairedStats& other) {
  if (other.n() == 0) return;
  if (n() == 0) {
    *this = other;
    return;
  }
  const double na = static_cast<double>(n()), nb = static_cast<double>(other.n());
  const double dx = other.x_.mean() - x_.mean();
  const double dy = other.y_.mean() - y_.mean();
  c_ += other.c_ + dx * dy * na * nb / (na + nb);
  x_.merge(other.x_);
  y_.merge(other.y_);
}

double PairedStats::covariance() const {
  if (n() < 2) return 0;
  return c_ / static_cast<double>(n() - 1);
}

double PairedStats::covariance_of_means() const {
  if (n() < 2) return 0;
  return covariance() / static_cast<double>(n());
}

double PairedStats::correlation() const {
  const double vx = x_.variance(), vy = y_.variance();
  if (vx <= 0 || vy <= 0) return 0;
  return covariance() / std::sqrt(vx * vy);
}

// Var(x̄ - ȳ) = Var(x̄) + Var(ȳ) - 2 Cov(x̄, ȳ) (llama.cpp's ln(PPL(Q)/PPL(base)) uncertainty).
double PairedStats::stderr_of_mean_difference() const {
  const double sx = x_.stderr_(), sy = y_.stderr_();
  return std::sqrt(std::max(0.0, sx * sx + sy * sy - 2.0 * covariance_of_means()));
}

// Linear interpolation between closest ranks at position q·(n-1) (numpy "linear", llama.cpp).
double percentile(std::span<const double> sorted, double q) {
  if (sorted.empty()) throw std::invalid_argument("percentile: no values");
  if (!(q >= 0.0 && q <= 1.0)) throw std::invalid_argument("percentile: q=" + std::to_string(q) + " is outside [0, 1]");
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  if (frac == 0.0) return sorted[lo];
  return (1.0 - frac) * sorted[lo] + frac * sorted[hi];
}

}  // namespace qrun
