// HQQ (Badri & Shaji 2023, "Half-Quadratic Quantization of Large Machine Learning Models"), after
// mobiusml/hqq hqq/core/quantize.py Quantizer.quantize (channel-wise, optimize=True) and
// hqq/core/optimize.py optimize_weights_proximal as first published (commit 0dbf39a, HQQ v0.1.0;
// lp_norm 0.7, beta 10, kappa 1.01, 20 iterations, stopping at the first iteration whose error
// does not improve). Current hqq keeps beta fixed in its default ("legacy") solver; qrun follows
// v0.1.0, where beta grows by kappa each iteration, as the paper describes.
//
// Grouping (Quantizer.quantize): axis 1 groups `group_size` consecutive elements of the flattened
// [out, in] weight (W.reshape([-1, group_size]), min/max per row of that view); axis 0 groups the
// columns of W.reshape([group_size, -1]) (every (numel/group_size)-th element). Initial
// parameters: scale = (2^b - 1) / (max - min) (1 where max - min <= 1e-4, clamped at 2e4),
// zero = -min * scale, rounded when round_zero (hqq_base_quant_config: nbits == 4). Solver, per
// iteration: W_q = clamp(round(W s + z), 0, 2^b - 1); W_r = (W_q - z) / s;
// W_e = shrink_lp(W - W_r, beta); z = mean(W_q - (W - W_e) s) along the axis; beta *= kappa;
// error = mean |W - W_r| (with the zero before the update); stop when it does not decrease (the
// updated zero is kept, as there). Codes: clamp(round(W s + z), 0, 2^b - 1). Dequantized:
// (W_q - z) * (1 / s).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace qrun::hqq {

struct Params {
  int nbits = 4;
  std::int64_t group_size = 64;
  int axis = 1;
  bool round_zero = true;  // hqq_base_quant_config: nbits == 4
  double lp_norm = 0.7, beta = 10.0, kappa = 1.01;
  int iters = 20;
};

struct Result {
  at::Tensor codes;       // grouped view: [groups, group_size] (axis 1) or [group_size, groups] (axis 0), integers
  at::Tensor scale;       // dequantization scale 1/s, [groups, 1] or [1, groups]
  at::Tensor zero;        // [groups, 1] or [1, groups]
  int iterations = 0;     // solver iterations run
};

// W [out, in] in the dtype to compute in (float32; float64 for the tests).
Result quantize(const at::Tensor& W, const Params& p);
// (codes - zero) * scale reshaped to [out, in].
at::Tensor dequantize(const Result& r, std::int64_t out, std::int64_t in);

}  // namespace qrun::hqq
