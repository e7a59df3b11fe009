// HQQ's quantizer and proximal solver: see hqq_solver.hpp.
#include "hqq_solver.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace qrun::hqq {

namespace {

// shrink_lp_op: sign(x) * relu(|x| - (1 / beta) * |x|^(p - 1))
at::Tensor shrink_lp(const at::Tensor& x, double beta, double p) {
  if (p == 1) return at::sign(x) * at::relu(x.abs() - 1.0 / beta);
  return at::sign(x) * at::relu(x.abs() - (1.0 / beta) * x.abs().pow(p - 1));
}

}  // namespace

Result quantize(const at::Tensor& W_in, const Params& p) {
  const std::int64_t g = p.group_size;
  const at::Tensor W = p.axis == 1 ? W_in.reshape({-1, g}) : W_in.reshape({g, -1});
  const double max_v = std::round(std::pow(2.0, p.nbits) - 1);
  const at::Tensor mn = std::get<0>(W.min(p.axis, true)), mx = std::get<0>(W.max(p.axis, true));
  const at::Tensor denom = mx - mn;
  at::Tensor scale = max_v / denom;
  scale = at::where(denom.abs() <= 1e-4, at::ones_like(scale), scale).clamp_max(2e4);
  at::Tensor zero = -mn * scale;
  if (p.round_zero) zero = at::round(zero);

  double beta = p.beta, best = 1e4;
  Result r;
  for (int i = 0; i < p.iters; ++i) {
    const at::Tensor W_q = at::round(W * scale + zero).clamp(0, max_v);
    const at::Tensor W_r = (W_q - zero) / scale;
    const at::Tensor W_e = shrink_lp(W - W_r, beta, p.lp_norm);
    zero = at::mean(W_q - (W - W_e) * scale, p.axis, true);
    beta *= p.kappa;
    ++r.iterations;
    const double err = (W - W_r).abs().mean().item<double>();
    if (err < best) best = err;
    else break;
  }
  r.codes = at::round(W * scale + zero).clamp(0, max_v);
  r.scale = 1.0 / scale;
  r.zero = zero;
  return r;
}

at::Tensor dequantize(const Result& r, std::int64_t out, std::int64_t in) {
  return ((r.codes - r.zero) * r.scale).reshape({out, in});
}

}  // namespace qrun::hqq
