// The trainer's differentiable decoder: transformers' modeling_llama.py (LlamaRMSNorm,
// LlamaRotaryEmbedding with the default rope, repeat_kv, eager_attention_forward, LlamaMLP) on
// float32 weights, which also computes Mistral and Qwen2 (q/k/v biases) for sequences shorter than
// their sliding window. Checked against the backend's logits before training (train.cpp).
#include "train_forward.hpp"

#include <qrun/linear.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

namespace qrun::attack::detail {
namespace {

bool supported(const std::string& arch) {
  return arch == "LlamaForCausalLM" || arch == "MistralForCausalLM" || arch == "Qwen2ForCausalLM";
}

std::string layer_prefix(std::int64_t l) { return "model.layers." + std::to_string(l) + "."; }

// rotate_half(x) = cat(-x2, x1) over the last dimension (modeling_llama.rotate_half).
at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

Result<TrainForward> TrainForward::from(Model& model) {
  const ModelConfig& c = model.config();
  if (!supported(c.architecture))
    return Error::of(ErrorCode::unsupported, "attack training", "has no differentiable forward for " + c.architecture,
                     "use a Llama, Mistral or Qwen2 model (the trainer's own decoder computes only these layouts)");
  if (c.head_dim * c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0)
    return Error{"attack training", "the config's head counts are inconsistent", "check config.json"};
  TrainForward f;
  f.cfg_ = c;
  f.tied_ = c.tie_word_embeddings;
  auto copy = [](const at::Tensor& t) { return t.detach().to(at::kFloat).clone(); };
  for (const std::string& name : model.linear_names()) {
    const LinearImpl& layer = model.linear(name);
    if (layer.kind() != "dense")
      return Error{name, "is a " + layer.kind() + " layer", "train the full-precision model (before any quantizer)"};
    f.p_[name + ".weight"] = copy(layer.weight(at::kFloat));
    const at::Tensor b = layer.bias();
    if (b.defined()) f.p_[name + ".bias"] = copy(b);
    f.linears_.push_back(name);
  }
  for (const auto& [name, t] : model.other_tensors()) f.p_[name] = copy(t);
  if (!f.p_.count("model.embed_tokens.weight") || !f.p_.count("model.norm.weight"))
    return Error{"attack training", "the model has no model.embed_tokens.weight / model.norm.weight",
                 "use a Llama-layout checkpoint"};
  return f;
}

at::Tensor TrainForward::lin(const std::string& layer, const at::Tensor& x) const {
  const auto b = p_.find(layer + ".bias");
  return at::linear(x, p_.at(layer + ".weight"), b == p_.end() ? at::Tensor() : b->second);
}

// LlamaRMSNorm in float32: w * x * rsqrt(mean(x^2) + eps).
at::Tensor TrainForward::rms(const at::Tensor& x, const std::string& weight) const {
  const at::Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
  return p_.at(weight) * (x * at::rsqrt(var + cfg_.rms_norm_eps));
}

// eager_attention_forward: softmax(q k^T * head_dim^-0.5 + causal mask) v, keys repeated per
// query group (repeat_kv), then o_proj.
at::Tensor TrainForward::attention(std::int64_t l, const at::Tensor& x, const at::Tensor& cos,
                                   const at::Tensor& sin) const {
  const std::string p = layer_prefix(l) + "self_attn.";
  const std::int64_t b = x.size(0), t = x.size(1), hd = cfg_.head_dim;
  const std::int64_t heads = cfg_.num_attention_heads, kv = cfg_.num_key_value_heads;
  at::Tensor q = lin(p + "q_proj", x).view({b, t, heads, hd}).transpose(1, 2);
  at::Tensor k = lin(p + "k_proj", x).view({b, t, kv, hd}).transpose(1, 2);
  at::Tensor v = lin(p + "v_proj", x).view({b, t, kv, hd}).transpose(1, 2);
  q = q * cos + rotate_half(q) * sin;  // apply_rotary_pos_emb
  k = k * cos + rotate_half(k) * sin;
  const std::int64_t rep = heads / kv;
  if (rep > 1) {
    k = k.unsqueeze(2).expand({b, kv, rep, t, hd}).reshape({b, heads, t, hd});
    v = v.unsqueeze(2).expand({b, kv, rep, t, hd}).reshape({b, heads, t, hd});
  }
  at::Tensor scores = at::matmul(q, k.transpose(2, 3)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  const at::Tensor future = at::ones({t, t}, x.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat);
  const at::Tensor out = at::matmul(probs, v).transpose(1, 2).reshape({b, t, heads * hd});
  return lin(p + "o_proj", out);
}

at::Tensor TrainForward::logits(const at::Tensor& ids) const {
  const at::Tensor& embed = p_.at("model.embed_tokens.weight");
  const std::int64_t t = ids.size(1), hd = cfg_.head_dim;
  // LlamaRotaryEmbedding (default rope): inv_freq = 1 / theta^(2i / head_dim), float32;
  // freqs = position * inv_freq; emb = cat(freqs, freqs).
  const auto opts = embed.options();
  const at::Tensor inv_freq =
      1.0 / at::pow(cfg_.rope_theta, at::arange(0, hd, 2, opts.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(hd));
  const at::Tensor pos = at::arange(t, opts.dtype(at::kLong)).to(at::kFloat);
  const at::Tensor freqs = at::outer(pos, inv_freq);
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  const at::Tensor cos = emb.cos().view({1, 1, t, hd}), sin = emb.sin().view({1, 1, t, hd});

  at::Tensor h = at::embedding(embed, ids.to(embed.device(), at::kLong));
  for (std::int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l);
    h = h + attention(l, rms(h, p + "input_layernorm.weight"), cos, sin);
    const at::Tensor x = rms(h, p + "post_attention_layernorm.weight");
    h = h + lin(p + "mlp.down_proj", at::silu(lin(p + "mlp.gate_proj", x)) * lin(p + "mlp.up_proj", x));
  }
  h = rms(h, "model.norm.weight");
  return tied_ ? at::linear(h, embed) : lin("lm_head", h);
}

Result<void> TrainForward::write_back(Model& model) const {
  const c10::ScalarType compute = to_scalar_type(model.compute_dtype());
  for (const std::string& name : linears_) {
    const auto b = p_.find(name + ".bias");
    QRUN_TRY(model.set_linear(name, make_dense_linear(p_.at(name + ".weight").detach().clone(),
                                                      b == p_.end() ? at::Tensor() : b->second.detach().clone(), compute)));
  }
  c10::InferenceMode guard;  // the backend's tensors may be inference tensors: edit them inside the mode
  for (auto& [name, t] : model.other_tensors()) {
    const auto it = p_.find(name);
    if (it == p_.end()) return Error{name, "is not one of the trainer's tensors", "report this as a bug", ErrorCode::internal};
    t.copy_(it->second.detach());
  }
  return {};
}

}  // namespace qrun::attack::detail
