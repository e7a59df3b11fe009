// Attention of the decoder layers as transformers computes it: projections, per-head q/k RMSNorm
// (Qwen3, Gemma 3), rotary embedding (partial for Phi-3), the causal / sliding-window masks of
// masking_utils.py, and eager_attention_forward (scaling, Gemma's soft-capping, fp32 softmax) or,
// with libtorch >= 2 and no soft-capping, SDPA as transformers' sdpa path calls it.
#include "hf_model.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>

#include <limits>

namespace qrun::hf {
namespace {

// rotate_half: cat(-x2, x1) over the last dimension's halves (transformers' rotate_half).
at::Tensor rotate_half(const at::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// apply_rotary_pos_emb: x * cos + rotate_half(x) * sin; with fewer rotary dimensions than the head
// (Phi-3's partial_rotary_factor) the rest passes unchanged: cat(rotated, pass).
at::Tensor rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const auto dim = cos.size(-1);
  if (dim == x.size(-1)) return x * cos + rotate_half(x) * sin;
  const at::Tensor rot = x.slice(-1, 0, dim);
  return at::cat({rot * cos + rotate_half(rot) * sin, x.slice(-1, dim)}, -1);
}

// repeat_kv: [B, kv, S, d] -> [B, kv * n_rep, S, d], each kv head repeated n_rep times in place.
at::Tensor repeat_kv(const at::Tensor& x, std::int64_t n_rep) {
  if (n_rep == 1) return x;
  const auto b = x.size(0), kv = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, kv, n_rep, s, d}).reshape({b, kv * n_rep, s, d});
}

}  // namespace

AttentionMasks HfModel::masks(std::int64_t t, const at::Tensor& key_mask) const {
  // masking_utils: causal_mask_function (kv_idx <= q_idx) and padding_mask_function, plus for
  // sliding layers sliding_window_overlay (kv_idx > q_idx - sliding_window), over cache indices.
  // A padded query also sees itself, so that no softmax row is empty (its output is never used).
  const auto s = key_mask.size(1), past = s - t;
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device_);
  at::Tensor q_idx = at::arange(past, s, long_opts).view({t, 1});
  at::Tensor k_idx = at::arange(0, s, long_opts).view({1, s});
  at::Tensor allowed = at::le(k_idx, q_idx).unsqueeze(0) & key_mask.to(at::kBool).unsqueeze(1);
  allowed = allowed | at::eq(k_idx, q_idx).unsqueeze(0);
  AttentionMasks m;
  m.full = allowed.unsqueeze(1);
  if (arch_.sliding_window > 0) m.sliding = (allowed & at::gt(k_idx, q_idx - arch_.sliding_window).unsqueeze(0)).unsqueeze(1);
#if TORCH_VERSION_MAJOR >= 2
  // _ignore_causal_mask_sdpa: no padding and either no cache (plain causal) or one new token
  // (sees everything), and for sliding layers fewer keys than the window: SDPA runs maskless.
  if (!arch_.attn_softcap && (past == 0 || t == 1) && key_mask.all().item<bool>()) {
    m.full = at::Tensor();
    if (s < arch_.sliding_window) m.sliding = at::Tensor();
  }
#endif
  return m;
}

void HfModel::qkv_heads(std::int64_t l, const at::Tensor& x, const Rope& rope, const MergedProjections* merged,
                        at::Tensor& q, at::Tensor& k, at::Tensor& v) const {
  const auto b = x.size(0), t = x.size(1);
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  const LinearImpl* qkv = nullptr;
  if (arch_.fused_projections) qkv = &proj(l, kQKV);  // Phi3Attention: qkv_proj, split q | k | v
  else if (merged != nullptr && merged->qkv[l]) qkv = merged->qkv[l].get();
  if (qkv != nullptr) {
    at::Tensor out = qkv->forward(x);
    q = out.slice(-1, 0, heads * hd);
    k = out.slice(-1, heads * hd, (heads + kv_heads) * hd);
    v = out.slice(-1, (heads + kv_heads) * hd, (heads + 2 * kv_heads) * hd);
  } else {
    q = proj(l, kQ).forward(x);
    k = proj(l, kK).forward(x);
    v = proj(l, kV).forward(x);
  }
  q = q.view({b, t, heads, hd});
  k = k.view({b, t, kv_heads, hd});
  v = v.view({b, t, kv_heads, hd});
  if (arch_.qk_norm) {  // Qwen3Attention / Gemma3Attention: q_norm, k_norm over head_dim, before RoPE
    q = rms_norm(q, t_.q_norm[l]);
    k = rms_norm(k, t_.k_norm[l]);
  }
  q = rotary(q.transpose(1, 2), rope.cos, rope.sin);
  k = rotary(k.transpose(1, 2), rope.cos, rope.sin);
  v = v.transpose(1, 2);
}

at::Tensor HfModel::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& allowed,
                           bool causal) const {
#if TORCH_VERSION_MAJOR >= 2
  // sdpa_attention_forward: without a mask is_causal = (T > 1) (which lets CUDA pick the flash
  // kernel); otherwise a boolean mask (true = attend). scale = the module's scaling.
  if (!arch_.attn_softcap) {
    if (!allowed.defined()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal, arch_.attn_scaling);
    return at::scaled_dot_product_attention(q, k, v, allowed, 0.0, false, arch_.attn_scaling);
  }
#endif
  (void)causal;  // eager always has the mask
  // eager_attention_forward: q k^T * scaling, soft-capped (Gemma: cap * tanh(w / cap)), the mask,
  // softmax in fp32, cast back, times v. transformers adds finfo(dtype).min where masked: exp
  // underflows to exactly 0 there, as it does for -inf (no row is fully masked, see masks()).
  at::Tensor w = at::matmul(q, k.transpose(-2, -1)) * arch_.attn_scaling;
  if (arch_.attn_softcap) w = at::tanh(w / *arch_.attn_softcap) * *arch_.attn_softcap;
  w = w.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor p = at::softmax(w, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(p, v);
}

at::Tensor HfModel::attention(std::int64_t layer, const at::Tensor& x, const Rope& rope, const at::Tensor& allowed,
                              KvCache* cache) const {
  const auto b = x.size(0), t = x.size(1);
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  at::Tensor q, k, v;
  qkv_heads(layer, x, rope, nullptr, q, k, v);
  if (cache != nullptr) {
    if (cache->k[layer].defined()) {
      k = at::cat({cache->k[layer], k}, 2);
      v = at::cat({cache->v[layer], v}, 2);
    }
    cache->k[layer] = k;
    cache->v[layer] = v;
  }
  const auto n_rep = heads / kv_heads;
  at::Tensor out = attend(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), allowed, t > 1);
  out = out.transpose(1, 2).contiguous().reshape({b, t, heads * hd});
  return proj(layer, kO).forward(out);
}

at::Tensor HfModel::attention_static(std::int64_t layer, const at::Tensor& x, const Rope& rope,
                                     const at::Tensor& allowed, KvCache& cache, const MergedProjections* merged) const {
  const auto b = x.size(0);
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  at::Tensor q, k, v;
  qkv_heads(layer, x, rope, merged, q, k, v);
  at::Tensor& kc = cache.k[layer];
  at::Tensor& vc = cache.v[layer];
  kc.index_copy_(2, cache.slot, k);
  vc.index_copy_(2, cache.slot, v);
  // One query per row: the n_rep query heads that share a KV head (repeat_kv puts head
  // kv * n_rep + r on KV head kv) become n_rep query rows against that head's keys. The same
  // products and sums as repeat_kv + attention, without copying the cache n_rep times.
  const auto n_rep = heads / kv_heads;
  at::Tensor out = attend(q.reshape({b, kv_heads, n_rep, hd}), kc, vc, allowed, false);
  out = out.reshape({b, 1, heads * hd});
  return proj(layer, kO).forward(out);
}

}  // namespace qrun::hf
