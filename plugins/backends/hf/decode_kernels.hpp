// Fused CUDA kernels for the one-token decode step (decode_static): each replaces a chain of
// ATen element-wise ops with one launch and keeps every intermediate rounding of that chain
// (ATen computes a binary op in float32 and rounds once to the tensor's dtype), so the results
// equal the ATen chain except where a reduction sums in another order (the RMSNorm variance).
// Built only with CUDA (QRUN_HF_CUDA_KERNELS); decode_static falls back to ATen otherwise.
#pragma once

#include <ATen/core/Tensor.h>

namespace qrun::hf::cuda {

// h += delta (when delta is defined; in place, rounded to h's dtype), then
// y = weight * (h_f32 * rsqrt(mean(h_f32^2) + eps)).to(dtype)   (transformers' Qwen2RMSNorm).
// h, delta: [R, H] contiguous; weight [H] in h's dtype. Returns y [R, H].
at::Tensor add_rms_norm(at::Tensor& h, const at::Tensor& delta, const at::Tensor& weight, double eps);

// Rotary embedding of one token per row plus the static-cache write:
// qkv [B, (heads + 2 kv) * hd] (q, k, v projections side by side), cos/sin [B, hd] in qkv's
// dtype; q' = q * cos + rotate_half(q) * sin (transformers' apply_rotary_pos_emb, same
// roundings), likewise k'; k' and v are written at slot[0] of k_cache/v_cache [B, kv, S, hd].
// Returns q' as [B, heads, hd].
at::Tensor rotary_and_cache(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, std::int64_t heads,
                            std::int64_t kv_heads, at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& slot);

// gate_up [R, 2 I] -> silu(gate) * up [R, I] (two roundings, as at::silu then a multiply).
at::Tensor silu_mul(const at::Tensor& gate_up);

}  // namespace qrun::hf::cuda
