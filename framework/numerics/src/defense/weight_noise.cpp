// Gaussian weight noise (see qrun/defense/weight_noise.hpp).
#include <qrun/defense/weight_noise.hpp>

#include <qrun/quant/blockwise4.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

namespace qrun::defense {

std::string_view to_string(NoiseMode m) {
  switch (m) {
    case NoiseMode::absolute: return "absolute";
    case NoiseMode::row_std: return "row_std";
    case NoiseMode::row_absmax: return "row_absmax";
  }
  return "absolute";
}

std::optional<NoiseMode> parse_noise_mode(std::string_view s) {
  for (NoiseMode m : {NoiseMode::absolute, NoiseMode::row_std, NoiseMode::row_absmax})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

at::Tensor noise_scale(const at::Tensor& w_f32, NoiseMode mode, double sigma) {
  const auto rows = w_f32.size(0);
  switch (mode) {
    case NoiseMode::absolute:
      return at::full({rows}, sigma, w_f32.options().dtype(at::kFloat));
    case NoiseMode::row_std:  // population std of each row (divisor n), float32
      return at::std(w_f32, at::IntArrayRef{1}, /*unbiased=*/false, /*keepdim=*/false) * sigma;
    case NoiseMode::row_absmax:  // max |w| of each row, float32
      return std::get<0>(at::max(w_f32.abs(), 1)) * sigma;
  }
  return {};
}

namespace {
NoiseSums sums_of(const at::Tensor& x_f64) {
  return {x_f64.numel(), x_f64.sum().item<double>(), x_f64.square().sum().item<double>()};
}
}  // namespace

double NoiseSums::mean() const { return n > 0 ? sum / static_cast<double>(n) : 0.0; }

double NoiseSums::std() const {
  if (n < 2) return 0.0;
  // sample variance (Σx² - (Σx)²/n) / (n - 1), clamped at 0 against rounding
  const double var = (sum_sq - sum * sum / static_cast<double>(n)) / static_cast<double>(n - 1);
  return var > 0 ? std::sqrt(var) : 0.0;
}

Result<void> check_noise_std(double sigma, const std::string& thing) {
  if (!std::isfinite(sigma))
    return Error{thing, "is not a finite number (" + std::to_string(sigma) + ")", "give a finite std >= 0"};
  if (sigma < 0) return Error{thing, std::to_string(sigma) + " is below 0", "give a std >= 0"};
  return {};
}

Result<NoisedWeight> add_weight_noise(const at::Tensor& w, NoiseMode mode, double sigma, at::Generator& gen,
                                      const std::string& name) {
  c10::InferenceMode guard;
  QRUN_TRY(check_noise_std(sigma, name + " std"));
  if (!w.defined() || w.dim() != 2 || w.numel() == 0)
    return Error{name, "is not a non-empty 2-D weight", "apply weight noise to linear weights [out, in]"};
  const auto dtype = w.scalar_type();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
    return Error{name, std::string("has dtype ") + c10::toString(dtype) + ", not a float type",
                 "apply weight noise to float32/float16/bfloat16 weights"};
  const at::Tensor w32 = w.to(at::kFloat).contiguous();
  QRUN_TRY(quant::check_finite(w32, name));
  const at::Tensor scale = noise_scale(w32, mode, sigma);  // s_r, float32 [rows]
  // N(0, 1) drawn on the CPU generator (device independent), then moved to the weight's device.
  const at::Tensor z = at::randn(w32.sizes(), gen, at::TensorOptions().dtype(at::kFloat).device(at::kCPU));
  // W' = W + s_r * z, float32, then cast back to the stored dtype.
  const at::Tensor noised = (w32 + z.to(w32.device()) * scale.unsqueeze(1)).to(dtype);
  NoisedWeight out;
  out.weight = noised;
  // Realised noise: the difference after the cast back, in float64.
  const at::Tensor delta = noised.to(at::kDouble) - w32.to(at::kDouble);
  out.delta = sums_of(delta);
  if (mode == NoiseMode::absolute) {
    out.relative = out.delta;
  } else {
    const at::Tensor rows = (scale > 0).nonzero().squeeze(1);
    if (rows.numel() > 0)
      out.relative = sums_of(at::index_select(delta, 0, rows) /
                             at::index_select(scale, 0, rows).to(at::kDouble).unsqueeze(1) * sigma);
  }
  out.unchanged = at::eq(noised, w.to(dtype)).sum().item<std::int64_t>();
  return out;
}

}  // namespace qrun::defense
