// AWQ's searches (Lin et al. 2024, "AWQ: Activation-aware Weight Quantization for LLM Compression
// and Acceleration"), after mit-han-lab/llm-awq (commit d6e797a) awq/quantize/auto_scale.py
// (_search_module_scale), auto_clip.py (auto_clip_layer) and quantizer.py
// (pseudo_quantize_tensor with zero_point=True). Arithmetic in float32 unless the inputs are float64.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace qrun::awq {

struct QConfig {
  int bits = 4;                   // w_bit
  std::int64_t group_size = 128;  // q_group_size; -1: the whole row
};

// pseudo_quantize_tensor(w, n_bit, zero_point=True, q_group_size): per group of a row,
// s = clamp(max - min, 1e-5) / (2^b - 1), z = clamp(-round(min / s), 0, 2^b - 1),
// w' = (clamp(round(w / s) + z, 0, 2^b - 1) - z) * s. `scales`/`zeros` (optional) receive
// [rows, groups] (zeros as integers stored in w's dtype).
at::Tensor pseudo_quantize(const at::Tensor& w, const QConfig& q, at::Tensor* scales = nullptr, at::Tensor* zeros = nullptr);

// get_act_scale: mean |x| over every token, per input channel, [in] float32.
at::Tensor act_scale(const at::Tensor& x);

// The grid's scales at `ratio`: x_max^ratio clamped at 1e-4, divided by sqrt(max * min).
at::Tensor ratio_scales(const at::Tensor& x_max, double ratio);

// A searched layer's candidate weight: w_quantize(W * s) / s (W [out, in], s [in]).
at::Tensor scaled_quantized(const at::Tensor& w, const at::Tensor& s, const QConfig& q);

struct ScaleSearch {
  double ratio = -1;            // the best ratio (the first on ties, strict < as the reference)
  at::Tensor scales;            // [in] float32 at that ratio
  std::vector<double> losses;   // loss per grid point (ratio = k / n_grid)
};
// _search_module_scale: for ratio = k / n_grid, k = 0 .. n_grid - 1, candidate weights for every
// layer in `weights` and loss = loss_of(candidates) (the reference: mean squared difference of the
// inspected module's output, in float32). Error-free: a grid whose losses are all non-finite
// returns ratio -1.
ScaleSearch search_scale(const at::Tensor& x_max, const std::vector<at::Tensor>& weights, const QConfig& q,
                         const std::function<double(const std::vector<at::Tensor>&)>& loss_of, int n_grid = 20);

// auto_clip_layer: w [out, in], x [tokens, in] (already divided by the applied scales). Tokens
// are subsampled with stride tokens / n_sample_token (at least 1); for shrink i = 0 ..
// max_shrink * n_grid - 1, max_val = amax|w| per group * (1 - i / n_grid), w clamped to
// [-max_val, max_val], quantized, and the group's output error mean_t (x_g . (q - w)_g)^2 kept when
// lower. Returns max_val [out, groups].
at::Tensor clip_search(const at::Tensor& w, const at::Tensor& x, const QConfig& q, int n_grid = 20,
                       double max_shrink = 0.5, std::int64_t n_sample_token = 512);
// apply_clip: w clamped per group to [-max_val, max_val].
at::Tensor apply_clip(const at::Tensor& w, const at::Tensor& max_val);

}  // namespace qrun::awq
