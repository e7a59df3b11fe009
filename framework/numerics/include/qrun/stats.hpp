// Running statistics for metrics: one value type for a mean with its standard error, one for a
// pair of series (their covariance, as llama.cpp keeps for ln(PPL_Q/PPL_base)), and one
// percentile rule. Everything in double; counts in int64.
#pragma once

#include <cstdint>
#include <limits>
#include <span>

namespace qrun {

// Mean, variance and standard error of a stream of numbers (Welford's update, Chan et al.'s
// merge: numerically stable and order-independent up to rounding).
class RunningStats {
 public:
  void add(double x);
  void merge(const RunningStats& other);

  std::int64_t n() const { return n_; }
  double mean() const { return mean_; }  // 0 when n == 0
  double sum() const { return mean_ * static_cast<double>(n_); }
  double min() const { return min_; }    // +inf when n == 0
  double max() const { return max_; }    // -inf when n == 0
  // Sample variance Σ(x-mean)²/(n-1); 0 when n < 2.
  double variance() const;
  // Standard error of the mean sqrt(variance/n) (= llama.cpp's sqrt((Σx²/n - mean²)/(n-1)));
  // 0 when n < 2.
  double stderr_() const;
  // Root mean square sqrt(Σx²/n); 0 when n == 0.
  double rms() const;

 private:
  std::int64_t n_ = 0;
  double mean_ = 0;
  double m2_ = 0;  // Σ(x - mean)²
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

// Two series observed together (x_i, y_i): each one's RunningStats plus their co-moment.
class PairedStats {
 public:
  void add(double x, double y);
  void merge(const PairedStats& other);

  std::int64_t n() const { return x_.n(); }
  const RunningStats& x() const { return x_; }
  const RunningStats& y() const { return y_; }
  // Sample covariance Σ(x-x̄)(y-ȳ)/(n-1); 0 when n < 2.
  double covariance() const;
  // Covariance of the two sample means, covariance()/n (llama.cpp's `covariance`); 0 when n < 2.
  double covariance_of_means() const;
  // Pearson correlation; 0 when either variance is 0.
  double correlation() const;
  // Standard error of mean(x) - mean(y) = sqrt(se_x² + se_y² - 2 cov(x̄, ȳ)).
  double stderr_of_mean_difference() const;

 private:
  RunningStats x_, y_;
  double c_ = 0;  // Σ(x - x̄)(y - ȳ)
};

// The q-quantile (q in [0, 1]) of ascending `sorted` values with linear interpolation between
// closest ranks: position q·(n-1) (as llama.cpp's perplexity tool and numpy's default "linear").
// Throws std::invalid_argument when `sorted` is empty or q is outside [0, 1] or NaN.
double percentile(std::span<const double> sorted, double q);

}  // namespace qrun
