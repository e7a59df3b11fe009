// AWQ's scale and clip searches: see awq_search.hpp.
#include "awq_search.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace qrun::awq {

namespace {
std::int64_t group_of(const at::Tensor& w, const QConfig& q) { return q.group_size > 0 ? q.group_size : w.size(-1); }
}  // namespace

at::Tensor pseudo_quantize(const at::Tensor& w, const QConfig& q, at::Tensor* scales, at::Tensor* zeros) {
  const auto shape = w.sizes().vec();
  const std::int64_t g = group_of(w, q);
  const at::Tensor x = w.reshape({-1, g});
  const double max_int = std::pow(2.0, q.bits) - 1;
  const at::Tensor max_val = std::get<0>(x.max(1, true)), min_val = std::get<0>(x.min(1, true));
  const at::Tensor s = (max_val - min_val).clamp_min(1e-5) / max_int;
  const at::Tensor z = (-at::round(min_val / s)).clamp(0, max_int);
  const at::Tensor out = (at::clamp(at::round(x / s) + z, 0, max_int) - z) * s;
  const std::int64_t rows = w.numel() / w.size(-1);
  if (scales) *scales = s.reshape({rows, -1});
  if (zeros) *zeros = z.reshape({rows, -1});
  return out.reshape(shape);
}

at::Tensor act_scale(const at::Tensor& x) {
  const auto dt = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return x.reshape({-1, x.size(-1)}).to(dt).abs().mean(0);
}

at::Tensor ratio_scales(const at::Tensor& x_max, double ratio) {
  at::Tensor s = x_max.pow(ratio).clamp_min(1e-4).reshape({-1});
  return s / (s.max() * s.min()).sqrt();
}

at::Tensor scaled_quantized(const at::Tensor& w, const at::Tensor& s, const QConfig& q) {
  const at::Tensor row = s.reshape({1, -1}).to(w.scalar_type());
  return pseudo_quantize(w * row, q) / row;
}

ScaleSearch search_scale(const at::Tensor& x_max, const std::vector<at::Tensor>& weights, const QConfig& q,
                         const std::function<double(const std::vector<at::Tensor>&)>& loss_of, int n_grid) {
  ScaleSearch r;
  double best = std::numeric_limits<double>::infinity();
  for (int k = 0; k < n_grid; ++k) {
    const double ratio = static_cast<double>(k) / n_grid;  // `ratio * 1 / n_grid`
    const at::Tensor s = ratio_scales(x_max, ratio);
    std::vector<at::Tensor> cand;
    for (const at::Tensor& w : weights) cand.push_back(scaled_quantized(w, s, q));
    const double loss = loss_of(cand);
    r.losses.push_back(loss);
    if (loss < best) {  // is_best = loss < best_error
      best = loss;
      r.ratio = ratio;
      r.scales = s;
    }
  }
  return r;
}

at::Tensor clip_search(const at::Tensor& w, const at::Tensor& x, const QConfig& q, int n_grid, double max_shrink,
                       std::int64_t n_sample_token) {
  const std::int64_t out = w.size(0), in = w.size(1), g = group_of(w, q), groups = in / g;
  at::Tensor feat = x.reshape({-1, in}).to(w.scalar_type());
  const std::int64_t stride = std::max<std::int64_t>(1, feat.size(0) / n_sample_token);
  feat = feat.slice(0, 0, feat.size(0), stride).reshape({-1, groups, g});  // [T, groups, g]
  const at::Tensor wg = w.reshape({out, groups, g});
  const at::Tensor org_max = wg.abs().amax(-1, true);  // [out, groups, 1]
  const at::Tensor org_out = at::einsum("tgk,ogk->otg", {feat, wg});
  at::Tensor best_max = org_max.clone();
  at::Tensor min_err = at::full({out, groups, 1}, 1e9, w.options());
  for (int i = 0; i < static_cast<int>(max_shrink * n_grid); ++i) {
    const at::Tensor max_val = org_max * (1 - static_cast<double>(i) / n_grid);
    const at::Tensor cur = at::max(at::min(wg, max_val), -max_val);
    const at::Tensor qw = pseudo_quantize(cur, q);
    const at::Tensor err = (at::einsum("tgk,ogk->otg", {feat, qw}) - org_out).square().mean(1).unsqueeze(-1);
    const at::Tensor better = err < min_err;
    min_err = at::where(better, err, min_err);
    best_max = at::where(better, max_val, best_max);
  }
  return best_max.squeeze(-1);
}

at::Tensor apply_clip(const at::Tensor& w, const at::Tensor& max_val) {
  const std::int64_t out = w.size(0), groups = max_val.size(1);
  const at::Tensor m = max_val.unsqueeze(-1).to(w.scalar_type());
  const at::Tensor wg = w.reshape({out, groups, -1});
  return at::max(at::min(wg, m), -m).reshape(w.sizes());
}

}  // namespace qrun::awq
