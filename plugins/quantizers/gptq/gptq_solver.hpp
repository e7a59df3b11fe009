// GPTQ's layer solver (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", Algorithm 1), written after the reference implementation
// IST-DASLab/gptq gptq.py GPTQ.fasterquant and quant.py Quantizer (commit 2d65066), with
// AutoGPTQ's bookkeeping of group scales and g_idx (AutoGPTQ/AutoGPTQ auto_gptq/quantization/
// gptq.py). Every step follows the reference's order, including its quirks:
//   * without groups the per-row range comes from the whole weight before dead columns are zeroed;
//   * a group's range (no static_groups) is taken from the weight as it stood at the start of the
//     current block of `blocksize` columns (the reference reads W, not the block copy W1);
//   * symmetric: zero = (maxq + 1) / 2 and xmin = -xmax only where xmin < 0.
// The arithmetic runs in W's dtype (float32 as the reference; float64 for the tests' oracle).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace qrun::gptq {

struct SolverParams {
  int bits = 4;                   // 2, 3, 4, 8 (maxq = 2^bits - 1)
  std::int64_t group_size = -1;   // -1: one range per row
  bool sym = true;                // the reference's default (llama.py --sym is a flag; AutoGPTQ default true)
  bool act_order = false;         // desc_act: columns in decreasing diag(H)
  bool static_groups = false;     // group ranges fixed up front in the original column order
  double percdamp = 0.01;         // damp = percdamp * mean(diag(H))
  std::int64_t blocksize = 128;   // lazy-batch block
};

struct SolverResult {
  at::Tensor codes;   // [out, in] int32 in [0, maxq], original column order
  at::Tensor scales;  // [out, groups] W's dtype
  at::Tensor zeros;   // [out, groups] int32 (integer zero points)
  at::Tensor g_idx;   // [in] int32: group of each original column
  at::Tensor dequant; // [out, in] scale * (code - zero) in W's dtype, original column order
  double loss = 0;    // sum over the matrix of (w - q)^2 / d^2 / 2 (the reference's Losses)
};

// gptq.py GPTQ.add_batch: H = 2/n sum x x^T over every token of the batches seen, n counting
// sequences (the leading dimension of a [B, T, in] input; a 2-D input is one sequence):
// H *= n/(n+B); n += B; x = sqrt(2/n) x; H += x^T x. In float32 as the reference (float64 when x is).
struct Hessian {
  at::Tensor H;
  std::int64_t n = 0;
  void add(const at::Tensor& x);
};

// W [out, in] and H [in, in] (2/n sum x x^T) in the same floating dtype and device. H is not modified.
SolverResult solve(const at::Tensor& W, const at::Tensor& H, const SolverParams& p);

// Quantizer.find_params(x, weight=True) with perchannel=True, mse=False: per-row scale and zero.
void find_params(const at::Tensor& x, int bits, bool sym, at::Tensor& scale, at::Tensor& zero);

}  // namespace qrun::gptq
