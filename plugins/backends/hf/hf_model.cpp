// The decoder forward pass, op for op as transformers' modeling_qwen2.py / modeling_llama.py
// compute it (eager attention; SDPA when libtorch >= 2), plus the Model accessors.
#include "hf_model.hpp"

#ifdef QRUN_HF_CUDA_KERNELS
#include "decode_kernels.hpp"
#endif

#include <qrun/error.hpp>
#include <qrun/params.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace qrun::hf {

const char* proj_suffix(Proj p) {
  switch (p) {
    case kQ: return "self_attn.q_proj";
    case kK: return "self_attn.k_proj";
    case kV: return "self_attn.v_proj";
    case kO: return "self_attn.o_proj";
    case kGate: return "mlp.gate_proj";
    case kUp: return "mlp.up_proj";
    case kDown: return "mlp.down_proj";
    default: return "?";
  }
}

HfModel::HfModel(ModelConfig config, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source,
                 c10::Device device, DType storage, DType compute, DecoderTensors tensors, NamedLinears linears)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      source_(std::move(source)),
      device_(device),
      storage_(storage),
      compute_(compute),
      compute_st_(to_scalar_type(compute)),
      t_(std::move(tensors)),
      linears_(std::move(linears)) {
  for (std::size_t i = 0; i < linears_.size(); ++i) index_[linears_[i].first] = i;
  // inv_freq = 1 / base^(arange(0, dim, 2, int64).float() / dim), float32
  // (transformers ROPE_INIT_FUNCTIONS["default"], _compute_default_rope_parameters).
  const auto dim = config_.head_dim;
  at::Tensor exponent = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                        static_cast<double>(dim);
  inv_freq_ = (1.0 / at::pow(config_.rope_theta, exponent)).to(device_);
}

std::vector<std::string> HfModel::linear_names() const {
  std::vector<std::string> out;
  out.reserve(linears_.size());
  for (const auto& [name, _] : linears_) out.push_back(name);
  return out;
}

std::size_t HfModel::index_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    std::string hint;
    if (auto near = nearest_name(name, linear_names())) hint = " (did you mean '" + *near + "'?)";
    throw ErrorException(Error{"linear '" + name + "'", "no such linear layer in " + config_.architecture + hint,
                               "use one of Model::linear_names()"});
  }
  return it->second;
}

LinearImpl& HfModel::linear(const std::string& name) { return *linears_[index_of(name)].second; }
const LinearImpl& HfModel::linear(const std::string& name) const { return *linears_[index_of(name)].second; }

Result<void> HfModel::set_linear(const std::string& name, std::shared_ptr<LinearImpl> impl) {
  auto it = index_.find(name);
  if (it == index_.end())
    return Error{"linear '" + name + "'", "no such linear layer", "use one of Model::linear_names()"};
  if (!impl) return Error{"linear '" + name + "'", "replacement is null", "pass a layer implementation"};
  const LinearImpl& old = *linears_[it->second].second;
  if (impl->in_features() != old.in_features() || impl->out_features() != old.out_features())
    return Error{"linear '" + name + "'",
                 "replacement is " + std::to_string(impl->out_features()) + "x" + std::to_string(impl->in_features()) +
                     ", the layer is " + std::to_string(old.out_features()) + "x" + std::to_string(old.in_features()),
                 "build the replacement from this layer's weight"};
  linears_[it->second].second = std::move(impl);
  return {};
}

NamedTensors HfModel::other_tensors() {
  NamedTensors out{{"model.embed_tokens.weight", t_.embed}};
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.emplace_back(p + "input_layernorm.weight", t_.input_norm[l]);
    out.emplace_back(p + "post_attention_layernorm.weight", t_.post_norm[l]);
  }
  out.emplace_back("model.norm.weight", t_.final_norm);
  return out;
}

// RMSNorm as transformers' Qwen2RMSNorm / LlamaRMSNorm: x in fp32, x * rsqrt(mean(x^2) + eps),
// cast back to the input dtype, then weight * x.
at::Tensor HfModel::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  const auto input_dtype = x.scalar_type();
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + config_.rms_norm_eps);
  return weight.to(compute_st_) * h.to(input_dtype);
}

namespace {

// rotate_half: cat(-x2, x1) over the last dimension's halves (transformers' rotate_half).
at::Tensor rotate_half(const at::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// repeat_kv: [B, kv, S, d] -> [B, kv * n_rep, S, d], each kv head repeated n_rep times in place.
at::Tensor repeat_kv(const at::Tensor& x, std::int64_t n_rep) {
  if (n_rep == 1) return x;
  const auto b = x.size(0), kv = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, kv, n_rep, s, d}).reshape({b, kv * n_rep, s, d});
}

}  // namespace

at::Tensor HfModel::attention(std::int64_t layer, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& allowed, KvCache* cache) const {
  const auto b = x.size(0), t = x.size(1);
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  at::Tensor q = proj(layer, kQ).forward(x).view({b, t, heads, hd}).transpose(1, 2);
  at::Tensor k = proj(layer, kK).forward(x).view({b, t, kv_heads, hd}).transpose(1, 2);
  at::Tensor v = proj(layer, kV).forward(x).view({b, t, kv_heads, hd}).transpose(1, 2);
  // apply_rotary_pos_emb: q * cos + rotate_half(q) * sin (cos/sin [B, 1, T, hd]).
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (cache != nullptr) {
    if (cache->k[layer].defined()) {
      k = at::cat({cache->k[layer], k}, 2);
      v = at::cat({cache->v[layer], v}, 2);
    }
    cache->k[layer] = k;
    cache->v[layer] = v;
  }
  const auto n_rep = heads / kv_heads;
  at::Tensor kr = repeat_kv(k, n_rep), vr = repeat_kv(v, n_rep);
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  // sdpa_attention_forward: without padding transformers passes no mask and is_causal = (T > 1)
  // (which lets CUDA pick the flash kernel); otherwise a boolean mask (true = attend). Default
  // scale 1/sqrt(head_dim) in both.
  if (!allowed.defined()) {
    out = at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, /*is_causal=*/t > 1);
  } else {
    out = at::scaled_dot_product_attention(q, kr, vr, allowed, 0.0, false);
  }
#else
  // eager_attention_forward: softmax(q k^T * head_dim^-0.5 + mask) in fp32, cast back, times v.
  const double scaling = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor w = at::matmul(q, kr.transpose(2, 3)) * scaling;
  // transformers adds finfo(dtype).min where masked: exp underflows to exactly 0 there, as it
  // does for -inf (no row is fully masked, see decode()).
  w = w.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor p = at::softmax(w, -1, at::kFloat).to(q.scalar_type());
  out = at::matmul(p, vr);
#endif
  out = out.transpose(1, 2).contiguous().reshape({b, t, heads * hd});
  return proj(layer, kO).forward(out);
}

void HfModel::embed_and_rope(const at::Tensor& ids, const at::Tensor& positions, at::Tensor& h, at::Tensor& cos,
                             at::Tensor& sin) const {
  h = at::embedding(t_.embed, ids).to(compute_st_);
  // Rotary tables (transformers' RotaryEmbedding.forward, autocast off): freqs = pos * inv_freq
  // in fp32, emb = cat(freqs, freqs), cos/sin cast to the activations' dtype.
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_;
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  cos = emb.cos().to(compute_st_).unsqueeze(1);
  sin = emb.sin().to(compute_st_).unsqueeze(1);
}

at::Tensor HfModel::mlp_block(std::int64_t l, const at::Tensor& h, const MergedProjections* merged) const {
  at::Tensor x = rms_norm(h, t_.post_norm[l]);
  // Qwen2MLP / LlamaMLP: down_proj(silu(gate_proj(x)) * up_proj(x)).
  at::Tensor gate, up;
  if (merged != nullptr && merged->gate_up[l]) {
    at::Tensor gu = merged->gate_up[l]->forward(x);
    const auto inter = config_.intermediate_size;
    gate = gu.slice(-1, 0, inter);
    up = gu.slice(-1, inter, 2 * inter);
  } else {
    gate = proj(l, kGate).forward(x);
    up = proj(l, kUp).forward(x);
  }
  return h + proj(l, kDown).forward(at::silu(gate) * up);
}

MergedProjections HfModel::merge_projections() const {
  const auto layers = config_.num_hidden_layers;
  MergedProjections m;
  m.qkv.resize(layers);
  m.gate_up.resize(layers);
  // Layers whose forward is linear(x, weight(compute), bias) merge into one dense layer of their
  // (dequantized) weights; otherwise the first layer's kind may merge its siblings itself
  // (LinearImpl::merge_with, e.g. LLM.int8 stacking rows); otherwise they stay separate.
  auto merge = [&](std::int64_t l, std::initializer_list<Proj> ps) -> std::shared_ptr<LinearImpl> {
    std::vector<const LinearImpl*> ls;
    for (Proj p : ps) ls.push_back(&proj(l, p));
    bool plain = true, any_bias = false;
    for (const LinearImpl* x : ls) {
      plain = plain && x->forward_is_dequantized_linear();
      any_bias = any_bias || x->bias().defined();
    }
    if (plain) {
      std::vector<at::Tensor> ws, bs;
      for (const LinearImpl* x : ls) {
        ws.push_back(x->weight(compute_st_));
        at::Tensor b = x->bias();
        bs.push_back(b.defined() ? b.to(compute_st_) : at::zeros({x->out_features()}, ws.back().options()));
      }
      return make_dense_linear(at::cat(ws, 0), any_bias ? at::cat(bs, 0) : at::Tensor(), compute_st_);
    }
    for (const LinearImpl* x : ls)
      if (x->kind() != ls.front()->kind()) return nullptr;
    return ls.front()->merge_with(std::vector<const LinearImpl*>(ls.begin() + 1, ls.end()));
  };
  for (std::int64_t l = 0; l < layers; ++l) {
    m.qkv[l] = merge(l, {kQ, kK, kV});
    m.gate_up[l] = merge(l, {kGate, kUp});
  }
  return m;
}

at::Tensor HfModel::decode(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_mask,
                           KvCache* cache) {
  const auto t = ids.size(1), s = key_mask.size(1), past = s - t;
  if (cache != nullptr && cache->k.empty()) {
    cache->k.resize(config_.num_hidden_layers);
    cache->v.resize(config_.num_hidden_layers);
  }
  at::Tensor h, cos, sin;
  embed_and_rope(ids, positions, h, cos, sin);
  // Attention mask [B, 1, T, S]: causal over cache indices, padded keys hidden. A padded query
  // also sees itself, so that no softmax row is empty (its output is never used).
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device_);
  at::Tensor q_idx = at::arange(past, s, long_opts).view({t, 1});
  at::Tensor k_idx = at::arange(0, s, long_opts).view({1, s});
  at::Tensor allowed = at::le(k_idx, q_idx).unsqueeze(0) & key_mask.to(at::kBool).unsqueeze(1);
  allowed = (allowed | at::eq(k_idx, q_idx).unsqueeze(0)).unsqueeze(1);
#if TORCH_VERSION_MAJOR >= 2
  // No padding and either no cache (plain causal) or one new token (sees everything): SDPA runs
  // maskless as transformers' sdpa path does (see attention()).
  if ((past == 0 || t == 1) && key_mask.all().item<bool>()) allowed = at::Tensor();
#endif
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    h = h + attention(l, rms_norm(h, t_.input_norm[l]), cos, sin, allowed, cache);
    h = mlp_block(l, h);
  }
  return rms_norm(h, t_.final_norm);
}

at::Tensor HfModel::attention_static(std::int64_t layer, const at::Tensor& x, const at::Tensor& cos,
                                     const at::Tensor& sin, const at::Tensor& allowed, KvCache& cache,
                                     const MergedProjections* merged) const {
  const auto b = x.size(0);
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  at::Tensor q, k, v;
  if (merged != nullptr && merged->qkv[layer]) {
    at::Tensor qkv = merged->qkv[layer]->forward(x);
    q = qkv.slice(-1, 0, heads * hd);
    k = qkv.slice(-1, heads * hd, (heads + kv_heads) * hd);
    v = qkv.slice(-1, (heads + kv_heads) * hd, (heads + 2 * kv_heads) * hd);
  } else {
    q = proj(layer, kQ).forward(x);
    k = proj(layer, kK).forward(x);
    v = proj(layer, kV).forward(x);
  }
  q = q.view({b, 1, heads, hd}).transpose(1, 2);
  k = k.view({b, 1, kv_heads, hd}).transpose(1, 2);
  v = v.view({b, 1, kv_heads, hd}).transpose(1, 2);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  at::Tensor& kc = cache.k[layer];
  at::Tensor& vc = cache.v[layer];
  kc.index_copy_(2, cache.slot, k);
  vc.index_copy_(2, cache.slot, v);
  // One query per row: the n_rep query heads that share a KV head (repeat_kv puts head
  // kv * n_rep + r on KV head kv) become n_rep query rows against that head's keys. The same
  // products and sums as repeat_kv + attention, without copying the cache n_rep times.
  const auto n_rep = heads / kv_heads;
  at::Tensor qg = q.reshape({b, kv_heads, n_rep, hd});
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  out = at::scaled_dot_product_attention(qg, kc, vc, allowed, 0.0, false);
#else
  const double scaling = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor w = at::matmul(qg, kc.transpose(2, 3)) * scaling;
  w = w.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor p = at::softmax(w, -1, at::kFloat).to(qg.scalar_type());
  out = at::matmul(p, vc);
#endif
  out = out.reshape({b, 1, heads * hd});
  return proj(layer, kO).forward(out);
}

at::Tensor HfModel::decode_static(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_mask,
                                  KvCache& cache, const MergedProjections* merged) {
  at::Tensor h, cos, sin;
  embed_and_rope(ids, positions, h, cos, sin);
#ifdef QRUN_HF_CUDA_KERNELS
  if (h.is_cuda() && merged != nullptr) return decode_static_fused(h, cos, sin, key_mask, cache, *merged);
#endif
  // [B, S_max] -> [B, 1, 1, S_max], broadcast over KV heads and the grouped query rows.
  at::Tensor allowed = key_mask.view({key_mask.size(0), 1, 1, key_mask.size(1)});
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    h = h + attention_static(l, rms_norm(h, t_.input_norm[l]), cos, sin, allowed, cache, merged);
    h = mlp_block(l, h, merged);
  }
  return rms_norm(h, t_.final_norm);
}

#ifdef QRUN_HF_CUDA_KERNELS
// decode_static with the fused kernels (decode_kernels.hpp): per layer add+RMSNorm, one q/k/v
// GEMM, rotary + cache write, attention, o_proj, add+RMSNorm, one gate/up GEMM, silu*up, down:
// ~10 launches instead of ~45. The residual stream h is updated in place.
at::Tensor HfModel::decode_static_fused(at::Tensor h, const at::Tensor& cos, const at::Tensor& sin,
                                        const at::Tensor& key_mask, KvCache& cache, const MergedProjections& m) {
  const auto b = h.size(0), hidden = config_.hidden_size;
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  const double eps = config_.rms_norm_eps;
  h = h.reshape({b, hidden}).contiguous();
  // SDPA's boolean mask as the additive float mask it becomes anyway: built once per step.
  at::Tensor bias = at::zeros({b, 1, 1, key_mask.size(1)}, h.options())
                        .masked_fill(key_mask.logical_not().view({b, 1, 1, key_mask.size(1)}),
                                     -std::numeric_limits<double>::infinity());
  at::Tensor x = cuda::add_rms_norm(h, at::Tensor(), t_.input_norm[0], eps);
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    at::Tensor qkv = m.qkv[l] ? m.qkv[l]->forward(x)
                              : at::cat({proj(l, kQ).forward(x), proj(l, kK).forward(x), proj(l, kV).forward(x)}, -1);
    at::Tensor q = cuda::rotary_and_cache(qkv, cos, sin, heads, kv_heads, cache.k[l], cache.v[l], cache.slot);
    at::Tensor attn = at::scaled_dot_product_attention(q.view({b, kv_heads, heads / kv_heads, hd}), cache.k[l],
                                                       cache.v[l], bias, 0.0, false);
    at::Tensor o = proj(l, kO).forward(attn.reshape({b, heads * hd}));
    x = cuda::add_rms_norm(h, o, t_.post_norm[l], eps);
    at::Tensor gu = m.gate_up[l] ? m.gate_up[l]->forward(x)
                                 : at::cat({proj(l, kGate).forward(x), proj(l, kUp).forward(x)}, -1);
    at::Tensor d = proj(l, kDown).forward(cuda::silu_mul(gu));
    const at::Tensor& next_norm = l + 1 < config_.num_hidden_layers ? t_.input_norm[l + 1] : t_.final_norm;
    x = cuda::add_rms_norm(h, d, next_norm, eps);
  }
  return x.view({b, 1, hidden});
}
#endif

bool HfModel::graph_safe(std::int64_t rows) const {
  // Each layer says whether its forward on `rows` rows needs the host (LinearImpl::graph_safe).
  for (const auto& [name, impl] : linears_)
    if (!impl->graph_safe(rows)) return false;
  return true;
}

at::Tensor HfModel::hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(1) == 0)
    throw ErrorException(Error{"input_ids", "must be a non-empty [batch, seq] tensor", "pass token ids as [B, T]"});
  c10::InferenceMode guard;
  at::Tensor ids = input_ids.to(device_, at::kLong);
  const auto lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
  if (lo < 0 || hi >= config_.vocab_size)
    throw ErrorException(Error{"input_ids", "token id " + std::to_string(lo < 0 ? lo : hi) + " outside [0, " +
                                                std::to_string(config_.vocab_size) + ")",
                               "use the model's own tokenizer"});
  at::Tensor mask = attention_mask.defined() ? attention_mask.to(device_, at::kLong) : at::ones_like(ids);
  if (mask.sizes() != ids.sizes())
    throw ErrorException(Error{"attention_mask", "shape differs from input_ids", "pass a [B, T] mask of 0/1"});
  // Positions count real tokens: cumsum(mask) - 1, padding set to 1 (transformers' generate).
  at::Tensor positions = (mask.cumsum(-1) - 1).masked_fill(mask.eq(0), 1);
  return decode(ids, positions, mask, nullptr);
}

at::Tensor HfModel::logits_from_hidden(const at::Tensor& hidden) {
  c10::InferenceMode guard;
  at::Tensor h = hidden.to(device_, compute_st_);
  // lm_head in the compute dtype, then the logits upcast to fp32.
  if (config_.tie_word_embeddings) return at::linear(h, t_.embed.to(compute_st_)).to(at::kFloat);
  return linears_.back().second->forward(h).to(at::kFloat);
}

Result<std::unique_ptr<Model>> HfModel::clone() const {
  // Ordinary tensors (not inference tensors), so that transforms may edit the copy in place.
  auto copy = [&](const at::Tensor& x) { return x.to(device_, /*non_blocking=*/false, /*copy=*/true); };
  DecoderTensors t;
  t.embed = copy(t_.embed);
  for (const auto& x : t_.input_norm) t.input_norm.push_back(copy(x));
  for (const auto& x : t_.post_norm) t.post_norm.push_back(copy(x));
  t.final_norm = copy(t_.final_norm);
  NamedLinears linears;
  for (const auto& [name, impl] : linears_) linears.emplace_back(name, impl->clone_to(device_));
  return std::unique_ptr<Model>(std::make_unique<HfModel>(config_, tokenizer_, source_, device_, storage_, compute_,
                                                          std::move(t), std::move(linears)));
}

}  // namespace qrun::hf
