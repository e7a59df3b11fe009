// The decoder forward pass, op for op as transformers' modeling files compute it (the attention
// is in attention.cpp), plus the Model accessors.
#include "hf_model.hpp"

#ifdef QRUN_HF_CUDA_KERNELS
#include "decode_kernels.hpp"
#endif

#include <qrun/error.hpp>
#include <qrun/params.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

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
    case kQKV: return "self_attn.qkv_proj";
    case kGateUp: return "mlp.gate_up_proj";
    default: return "?";
  }
}

HfModel::HfModel(ModelConfig config, Arch arch, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source,
                 c10::Device device, DType storage, DType compute, DecoderTensors tensors, NamedLinears linears)
    : config_(std::move(config)),
      arch_(std::move(arch)),
      tokenizer_(std::move(tokenizer)),
      source_(std::move(source)),
      device_(device),
      storage_(storage),
      compute_(compute),
      compute_st_(to_scalar_type(compute)),
      t_(std::move(tensors)),
      linears_(std::move(linears)) {
  constexpr auto kAbsent = std::numeric_limits<std::size_t>::max();
  std::array<std::size_t, kProjCount> none;
  none.fill(kAbsent);
  slots_.assign(config_.num_hidden_layers, none);
  for (std::size_t i = 0; i < linears_.size(); ++i) {
    const std::string& name = linears_[i].first;
    index_[name] = i;
    // "model.layers.<l>.<suffix>" -> slots_[l][proj]
    const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const auto dot = name.find('.', prefix.size());
    const auto layer = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
    for (int p = 0; p < kProjCount; ++p)
      if (name.compare(dot + 1, std::string::npos, proj_suffix(static_cast<Proj>(p))) == 0) slots_[layer][p] = i;
  }
  rotary_.emplace_back(arch_.rope, config_.head_dim, config_.max_position_embeddings, device_);
  if (arch_.local_rope) rotary_.emplace_back(*arch_.local_rope, config_.head_dim, config_.max_position_embeddings, device_);
  if (arch_.embed_scale) {
    // Gemma2Model: torch.tensor(hidden_size**0.5, dtype=embeddings' dtype); Gemma3's scaled
    // embedding: torch.tensor(hidden_size**0.5) (float32) .to(weight dtype): the same rounding.
    embed_scale_ = at::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), at::kFloat)
                       .to(t_.embed.scalar_type())
                       .to(device_);
  }
  fused_decode_ = !arch_.gemma_norm && !arch_.sandwich_norms && !arch_.qk_norm && arch_.act == Activation::kSilu &&
                  arch_.rotary_dim == config_.head_dim && !arch_.attn_softcap && !arch_.local_rope;
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
                               "use one of Model::linear_names()", ErrorCode::not_found});
  }
  return it->second;
}

LinearImpl& HfModel::linear(const std::string& name) { return *linears_[index_of(name)].second; }
const LinearImpl& HfModel::linear(const std::string& name) const { return *linears_[index_of(name)].second; }

Result<void> HfModel::set_linear(const std::string& name, std::shared_ptr<LinearImpl> impl) {
  auto it = index_.find(name);
  if (it == index_.end())
    return Error{"linear '" + name + "'", "no such linear layer", "use one of Model::linear_names()", ErrorCode::not_found};
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
  auto add = [&](const std::string& name, const std::vector<at::Tensor>& v, std::int64_t l) {
    if (!v.empty()) out.emplace_back(name, v[l]);
  };
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", t_.input_norm, l);
    add(p + "self_attn.q_norm.weight", t_.q_norm, l);
    add(p + "self_attn.k_norm.weight", t_.k_norm, l);
    add(p + "post_attention_layernorm.weight", t_.post_norm, l);
    add(p + "pre_feedforward_layernorm.weight", t_.pre_ffn_norm, l);
    add(p + "post_feedforward_layernorm.weight", t_.post_ffn_norm, l);
  }
  out.emplace_back("model.norm.weight", t_.final_norm);
  return out;
}

// Qwen2RMSNorm / LlamaRMSNorm: x in fp32, x * rsqrt(mean(x^2) + eps), cast back to the input
// dtype, then weight * x. Gemma2RMSNorm / Gemma3RMSNorm: the same normalisation times
// (1 + weight.float()) in fp32, then cast to the input dtype.
at::Tensor HfModel::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  const auto input_dtype = x.scalar_type();
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + config_.rms_norm_eps);
  if (arch_.gemma_norm) return (h * (1.0 + weight.to(at::kFloat))).to(input_dtype);
  return weight.to(compute_st_) * h.to(input_dtype);
}

at::Tensor HfModel::embed(const at::Tensor& ids) const {
  at::Tensor h = at::embedding(t_.embed, ids);
  if (embed_scale_.defined()) h = h * embed_scale_;  // in the embedding dtype, as transformers
  return h.to(compute_st_);
}

std::vector<HfModel::Rope> HfModel::rope_tables(const at::Tensor& positions) {
  std::vector<Rope> out(rotary_.size());
  for (std::size_t i = 0; i < rotary_.size(); ++i) rotary_[i].tables(positions, compute_st_, out[i].cos, out[i].sin);
  return out;
}

at::Tensor HfModel::add_attention(std::int64_t l, const at::Tensor& h, const at::Tensor& attn) const {
  // Gemma2DecoderLayer: residual + post_attention_layernorm(self_attn(...)).
  return h + (arch_.sandwich_norms ? rms_norm(attn, t_.post_norm[l]) : attn);
}

at::Tensor HfModel::mlp_block(std::int64_t l, const at::Tensor& h, const MergedProjections* merged) const {
  // Gemma: pre_feedforward_layernorm before and post_feedforward_layernorm after the MLP; the
  // others: post_attention_layernorm before it.
  at::Tensor x = rms_norm(h, arch_.sandwich_norms ? t_.pre_ffn_norm[l] : t_.post_norm[l]);
  // LlamaMLP / Gemma2MLP: down_proj(act(gate_proj(x)) * up_proj(x)); Phi3MLP: gate_up_proj(x)
  // split in halves (gate, up), down_proj(up * act(gate)).
  at::Tensor gate, up;
  const auto inter = config_.intermediate_size;
  const LinearImpl* gate_up = nullptr;
  if (arch_.fused_projections) gate_up = &proj(l, kGateUp);
  else if (merged != nullptr && merged->gate_up[l]) gate_up = merged->gate_up[l].get();
  if (gate_up != nullptr) {
    at::Tensor gu = gate_up->forward(x);
    gate = gu.slice(-1, 0, inter);
    up = gu.slice(-1, inter, 2 * inter);
  } else {
    gate = proj(l, kGate).forward(x);
    up = proj(l, kUp).forward(x);
  }
  at::Tensor act;
  switch (arch_.act) {
    case Activation::kSilu: act = at::silu(gate); break;
    case Activation::kGeluTanh: act = at::gelu(gate, "tanh"); break;  // gelu_pytorch_tanh
    case Activation::kGelu: act = at::gelu(gate); break;
  }
  at::Tensor out = proj(l, kDown).forward(act * up);
  return h + (arch_.sandwich_norms ? rms_norm(out, t_.post_ffn_norm[l]) : out);
}

MergedProjections HfModel::merge_projections() const {
  const auto layers = config_.num_hidden_layers;
  MergedProjections m;
  m.qkv.resize(layers);
  m.gate_up.resize(layers);
  if (arch_.fused_projections) {  // Phi-3: qkv_proj and gate_up_proj are the merged layers
    for (std::int64_t l = 0; l < layers; ++l) {
      m.qkv[l] = linears_[slots_[l][kQKV]].second;
      m.gate_up[l] = linears_[slots_[l][kGateUp]].second;
    }
    return m;
  }
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
  if (cache != nullptr && cache->k.empty()) {
    cache->k.resize(config_.num_hidden_layers);
    cache->v.resize(config_.num_hidden_layers);
  }
  at::Tensor h = embed(ids);
  const std::vector<Rope> ropes = rope_tables(positions);
  const AttentionMasks m = masks(ids.size(1), key_mask);
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    h = add_attention(l, h, attention(l, rms_norm(h, t_.input_norm[l]), rope_of(l, ropes), mask_of(l, m), cache));
    h = mlp_block(l, h);
  }
  return rms_norm(h, t_.final_norm);
}

at::Tensor HfModel::decode_static(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_mask,
                                  KvCache& cache, const MergedProjections* merged) {
  at::Tensor h = embed(ids);
  const std::vector<Rope> ropes = rope_tables(positions);
  // [B, S_max] -> [B, 1, 1, S_max], broadcast over KV heads and the grouped query rows. Sliding
  // layers see the keys at slots > slot - sliding_window only (the query is at `slot`).
  AttentionMasks m;
  m.full = key_mask.view({key_mask.size(0), 1, 1, key_mask.size(1)});
  if (arch_.sliding_window > 0) {
    at::Tensor k_idx = at::arange(key_mask.size(1), key_mask.options().dtype(at::kLong));
    m.sliding = m.full & (k_idx > cache.slot - arch_.sliding_window).view({1, 1, 1, key_mask.size(1)});
  }
#ifdef QRUN_HF_CUDA_KERNELS
  if (h.is_cuda() && merged != nullptr && fused_decode_) return decode_static_fused(h, ropes[0], m, cache, *merged);
#endif
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    h = add_attention(l, h,
                      attention_static(l, rms_norm(h, t_.input_norm[l]), rope_of(l, ropes), mask_of(l, m), cache, merged));
    h = mlp_block(l, h, merged);
  }
  return rms_norm(h, t_.final_norm);
}

#ifdef QRUN_HF_CUDA_KERNELS
// decode_static with the fused kernels (decode_kernels.hpp), for the families whose layer is
// plain RMSNorm, SiLU MLP and full rotary (fused_decode_): per layer add+RMSNorm, one q/k/v
// GEMM, rotary + cache write, attention, o_proj, add+RMSNorm, one gate/up GEMM, silu*up, down:
// ~10 launches instead of ~45. The residual stream h is updated in place.
at::Tensor HfModel::decode_static_fused(at::Tensor h, const Rope& rope, const AttentionMasks& masks, KvCache& cache,
                                        const MergedProjections& m) {
  const auto b = h.size(0), hidden = config_.hidden_size;
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads, hd = config_.head_dim;
  const double eps = config_.rms_norm_eps;
  h = h.reshape({b, hidden}).contiguous();
  // SDPA's boolean masks as the additive float masks they become anyway: built once per step.
  auto additive = [&](const at::Tensor& allowed) {
    if (!allowed.defined()) return at::Tensor();
    return at::zeros(allowed.sizes(), h.options()).masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  };
  const at::Tensor bias_full = additive(masks.full), bias_sliding = additive(masks.sliding);
  at::Tensor x = cuda::add_rms_norm(h, at::Tensor(), t_.input_norm[0], eps);
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    at::Tensor qkv = m.qkv[l] ? m.qkv[l]->forward(x)
                              : at::cat({proj(l, kQ).forward(x), proj(l, kK).forward(x), proj(l, kV).forward(x)}, -1);
    at::Tensor q = cuda::rotary_and_cache(qkv, rope.cos, rope.sin, heads, kv_heads, cache.k[l], cache.v[l], cache.slot);
    at::Tensor attn = at::scaled_dot_product_attention(q.view({b, kv_heads, heads / kv_heads, hd}), cache.k[l], cache.v[l],
                                                       sliding(l) ? bias_sliding : bias_full, 0.0, false,
                                                       arch_.attn_scaling);
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
  // lm_head in the compute dtype (Gemma: then final_logit_softcapping, cap * tanh(logits / cap),
  // still in that dtype), then the logits upcast to fp32.
  at::Tensor logits = config_.tie_word_embeddings ? at::linear(h, t_.embed.to(compute_st_))
                                                  : linears_.back().second->forward(h);
  if (arch_.final_softcap) logits = at::tanh(logits / *arch_.final_softcap) * *arch_.final_softcap;
  return logits.to(at::kFloat);
}

Result<std::unique_ptr<Model>> HfModel::clone() const {
  // Ordinary tensors (not inference tensors), so that transforms may edit the copy in place.
  auto copy = [&](const at::Tensor& x) { return x.to(device_, /*non_blocking=*/false, /*copy=*/true); };
  auto copy_all = [&](const std::vector<at::Tensor>& v) {
    std::vector<at::Tensor> out;
    for (const auto& x : v) out.push_back(copy(x));
    return out;
  };
  DecoderTensors t;
  t.embed = copy(t_.embed);
  t.input_norm = copy_all(t_.input_norm);
  t.post_norm = copy_all(t_.post_norm);
  t.pre_ffn_norm = copy_all(t_.pre_ffn_norm);
  t.post_ffn_norm = copy_all(t_.post_ffn_norm);
  t.q_norm = copy_all(t_.q_norm);
  t.k_norm = copy_all(t_.k_norm);
  t.final_norm = copy(t_.final_norm);
  NamedLinears linears;
  for (const auto& [name, impl] : linears_) linears.emplace_back(name, impl->clone_to(device_));
  auto out = std::make_unique<HfModel>(config_, arch_, tokenizer_, source_, device_, storage_, compute_, std::move(t),
                                       std::move(linears));
  for (std::size_t i = 0; i < rotary_.size(); ++i) out->rotary_[i] = rotary_[i].clone_to(device_);  // dynamic state
  return std::unique_ptr<Model>(std::move(out));
}

}  // namespace qrun::hf
