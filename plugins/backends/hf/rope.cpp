// The RoPE types of transformers 5 (modeling_rope_utils.py: _compute_linear_scaling_,
// _compute_dynamic_ntk_, _compute_yarn_, _compute_longrope_, _compute_llama3_parameters; the
// models' compute_default_rope_parameters; dynamic_rope_update), step by step in the same float32
// ATen operations. Python's `1.0 / t` is t.reciprocal() * 1.0 (Tensor.__rtruediv__), so the
// reciprocals below are that, not a division; host-side numbers are Python floats (double).
#include "rope.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace qrun::hf {
namespace {

constexpr double kPi = 3.141592653589793;  // math.pi

// arange(0, dim, 2, int64).float() / dim, float32 [dim / 2].
at::Tensor exponents(std::int64_t dim) {
  return at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / dim;
}

// 1.0 / (base ** (arange(0, dim, 2) / dim)): the default RoPE.
at::Tensor default_inv_freq(double base, std::int64_t dim) { return at::pow(base, exponents(dim)).reciprocal(); }

// _compute_llama3_parameters: wavelengths beyond original/low_freq_factor are divided by factor,
// those below original/high_freq_factor kept, those between smoothly interpolated.
at::Tensor llama3_inv_freq(const RopeSpec& s, std::int64_t dim) {
  const at::Tensor inv_freq = default_inv_freq(s.theta, dim);
  const double factor = *s.factor;
  const auto old_context_len = s.original_max_position_embeddings;
  const double low_freq_wavelen = static_cast<double>(old_context_len) / s.low_freq_factor;
  const double high_freq_wavelen = static_cast<double>(old_context_len) / s.high_freq_factor;
  const at::Tensor wavelen = inv_freq.reciprocal() * (2 * kPi);  // 2 * math.pi / inv_freq
  at::Tensor inv_freq_llama = at::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
  // (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
  const at::Tensor smooth_factor = (wavelen.reciprocal() * old_context_len - s.low_freq_factor) /
                                   (s.high_freq_factor - s.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama;
  const at::Tensor is_medium = (wavelen < high_freq_wavelen).logical_not() & (wavelen > low_freq_wavelen).logical_not();
  return at::where(is_medium, smoothed, inv_freq_llama);
}

// get_mscale of _compute_yarn_parameters.
double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// _compute_yarn_parameters: frequencies interpolated by `factor` below the correction range,
// extrapolated above it, linearly ramped between. Returns inv_freq; sets the attention factor.
at::Tensor yarn_inv_freq(const RopeSpec& s, std::int64_t dim, std::int64_t max_pos, double& attention_factor) {
  const double base = s.theta;
  const auto orig = s.original_max_position_embeddings;
  const double factor = s.factor ? *s.factor : static_cast<double>(max_pos) / static_cast<double>(orig);
  if (s.attention_factor) {
    attention_factor = *s.attention_factor;
  } else if (s.mscale.value_or(0) != 0 && s.mscale_all_dim.value_or(0) != 0) {  // `if mscale and mscale_all_dim`
    attention_factor = yarn_mscale(factor, *s.mscale) / yarn_mscale(factor, *s.mscale_all_dim);
  } else {
    attention_factor = yarn_mscale(factor, 1.0);
  }
  const double beta_fast = s.beta_fast.value_or(0) != 0 ? *s.beta_fast : 32;  // `or 32`
  const double beta_slow = s.beta_slow.value_or(0) != 0 ? *s.beta_slow : 1;
  auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(static_cast<double>(orig) / (rotations * 2 * kPi))) / (2 * std::log(base));
  };
  double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // linear_ramp_factor: prevent a singularity
  const at::Tensor ramp =
      ((at::arange(dim / 2, at::TensorOptions().dtype(at::kFloat)) - low) / (high - low)).clamp(0, 1);
  const at::Tensor pos_freqs = at::pow(base, exponents(dim));
  const at::Tensor extrapolation = pos_freqs.reciprocal();
  const at::Tensor interpolation = (pos_freqs * factor).reciprocal();
  const at::Tensor extrapolation_factor = 1 - ramp;
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

// _compute_longrope_parameters: 1 / (ext_factors * base ** (arange / dim)), ext_factors the long
// factors when the sequence is longer than the original context, else the short ones.
at::Tensor longrope_inv_freq(const RopeSpec& s, std::int64_t dim, bool long_factors) {
  const std::vector<double>& ext = long_factors ? s.long_factor : s.short_factor;
  const at::Tensor ext_factors = at::tensor(ext, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  return (ext_factors * at::pow(s.theta, exponents(dim))).reciprocal();
}

double longrope_attention_factor(const RopeSpec& s, std::int64_t max_pos) {
  if (s.attention_factor) return *s.attention_factor;
  const auto orig = static_cast<double>(s.original_max_position_embeddings);
  const double factor = s.factor ? *s.factor : static_cast<double>(max_pos) / orig;
  return factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(orig));
}

}  // namespace

Rotary::Rotary(const RopeSpec& spec, std::int64_t head_dim, std::int64_t max_position_embeddings, c10::Device device)
    : spec_(spec), max_pos_(max_position_embeddings) {
  dim_ = static_cast<std::int64_t>(static_cast<double>(head_dim) * spec.partial_rotary_factor);  // int(head_dim * prf)
  const std::string& type = spec.type;
  if (type == "linear") {
    inv_freq_ = default_inv_freq(spec.theta, dim_) / *spec.factor;  // inv_freq /= factor
  } else if (type == "dynamic") {
    // At initialisation seq_len = max_position_embeddings (Python floats).
    const double factor = *spec.factor, seq_len = static_cast<double>(max_pos_);
    const double base = spec.theta * std::pow((factor * seq_len / static_cast<double>(max_pos_)) - (factor - 1),
                                              static_cast<double>(dim_) / static_cast<double>(dim_ - 2));
    inv_freq_ = default_inv_freq(base, dim_);
  } else if (type == "yarn") {
    inv_freq_ = yarn_inv_freq(spec, dim_, max_pos_, attention_scaling_);
  } else if (type == "longrope") {
    inv_freq_ = longrope_inv_freq(spec, dim_, /*long_factors=*/false);
    long_inv_freq_ = longrope_inv_freq(spec, dim_, /*long_factors=*/true).to(device);
    attention_scaling_ = longrope_attention_factor(spec, max_pos_);
  } else if (type == "llama3") {
    inv_freq_ = llama3_inv_freq(spec, dim_);
  } else {
    inv_freq_ = default_inv_freq(spec.theta, dim_);
  }
  inv_freq_ = inv_freq_.to(device);
  if (type == "dynamic") current_ = inv_freq_.clone();
}

// _compute_dynamic_ntk_parameters with a tensor seq_len (what dynamic_rope_update passes):
// base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2)) in float32.
at::Tensor Rotary::dynamic_inv_freq(const at::Tensor& seq_len) const {
  const double factor = *spec_.factor;
  const at::Tensor len = at::maximum(seq_len, at::scalar_tensor(max_pos_, seq_len.options()));
  const at::Tensor scaled = at::pow(len * factor / max_pos_ - (factor - 1),
                                    static_cast<double>(dim_) / static_cast<double>(dim_ - 2));
  const at::Tensor base = scaled * spec_.theta;
  return at::pow(base, exponents(dim_).to(seq_len.device())).reciprocal();
}

void Rotary::tables(const at::Tensor& positions, c10::ScalarType dtype, at::Tensor& cos, at::Tensor& sin) {
  at::Tensor inv_freq = inv_freq_;
  if (spec_.type == "dynamic" || spec_.type == "longrope") {
    const at::Tensor seq_len = positions.max() + 1;  // torch.max(position_ids) + 1
    if (spec_.type == "longrope") {
      // longrope_frequency_update: the long table when seq_len > original_max_position_embeddings.
      inv_freq = at::where(seq_len > spec_.original_max_position_embeddings, long_inv_freq_, inv_freq_);
    } else {
      // dynamic_frequency_update: recomputed when seq_len > max_position_embeddings. transformers
      // compares with max_seq_len_cached, which its update stores under another attribute name
      // ("None_max_seq_len_cached") and so stays max_position_embeddings; nor does it ever reset:
      // a table computed for a long forward stays until the next forward longer than
      // max_position_embeddings. The same, on the device:
      current_.copy_(at::where(seq_len > max_pos_, dynamic_inv_freq(seq_len), current_));
      inv_freq = current_;
    }
  }
  // freqs = inv_freq @ positions in float32 (one product each), emb = cat(freqs, freqs).
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  cos = emb.cos();
  sin = emb.sin();
  if (attention_scaling_ != 1.0) {  // cos * attention_scaling (a factor of 1 changes nothing)
    cos = cos * attention_scaling_;
    sin = sin * attention_scaling_;
  }
  cos = cos.to(dtype).unsqueeze(1);
  sin = sin.to(dtype).unsqueeze(1);
}

Rotary Rotary::clone_to(c10::Device device) const {
  Rotary r;
  r.spec_ = spec_;
  r.dim_ = dim_;
  r.max_pos_ = max_pos_;
  r.attention_scaling_ = attention_scaling_;
  auto copy = [&](const at::Tensor& x) { return x.defined() ? x.to(device, false, /*copy=*/true) : x; };
  r.inv_freq_ = copy(inv_freq_);
  r.long_inv_freq_ = copy(long_inv_freq_);
  r.current_ = copy(current_);
  return r;
}

}  // namespace qrun::hf
