// Gaussian weight noise, the defense Egashira et al. ("Exploiting LLM Quantization", NeurIPS 2024,
// sec. 5) propose against box-constrained quantization attacks: W' = W + s_r * N(0, 1) per row r,
// with s_r = std (absolute), std * row_std(W_r) or std * row_absmax(W_r). Computed in float32,
// then cast back to the weight's dtype; the normal draws come from a CPU generator so that a
// seed gives the same weights on every device.
#pragma once

#include <qrun/error.hpp>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <string_view>

namespace qrun::defense {

enum class NoiseMode { absolute, row_std, row_absmax };
std::string_view to_string(NoiseMode m);                        // "absolute", "row_std", "row_absmax"
std::optional<NoiseMode> parse_noise_mode(std::string_view s);  // inverse of to_string

// Per-row noise scale s_r (float32 [rows]) of a 2-D float32 weight. row_std is the population
// std (divisor n) of the row, row_absmax its max |w|.
at::Tensor noise_scale(const at::Tensor& w_f32, NoiseMode mode, double sigma);

// Refuses a NaN/Inf or negative std, naming `thing` (e.g. "weight_noise.std").
Result<void> check_noise_std(double sigma, const std::string& thing);

// Σx and Σx² (double) of a noise sample: std = sqrt((Σx² - (Σx)²/n) / (n - 1)); the noise mean is
// ~0, so the one-pass formula loses nothing in double. Sums of several layers simply add.
struct NoiseSums {
  std::int64_t n = 0;
  double sum = 0, sum_sq = 0;
  void add(const NoiseSums& o) { n += o.n; sum += o.sum; sum_sq += o.sum_sq; }
  double mean() const;
  double std() const;  // sample std; 0 when n < 2
};

struct NoisedWeight {
  at::Tensor weight;   // same shape, dtype and device as the input
  NoiseSums delta;     // W' - W after the cast back, float64
  // (W' - W) * std / s_r over the rows with s_r > 0: the realised noise in the mode's unit (×row
  // std, ×row absmax), comparable to the requested std; equals `delta` in absolute mode.
  NoiseSums relative;
  std::int64_t unchanged = 0;  // elements the cast back left equal to the original
};

// W' = W + s_r * N(0, 1) in float32, cast back to W's dtype. W: 2-D, float32/float16/bfloat16,
// finite (errors name `name`); `gen` is a CPU generator.
Result<NoisedWeight> add_weight_noise(const at::Tensor& w, NoiseMode mode, double sigma, at::Generator& gen,
                                      const std::string& name);

}  // namespace qrun::defense
