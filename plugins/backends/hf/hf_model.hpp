// HfModel: the decoder families of arch.hpp (Llama, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3 text,
// Phi-3) as transformers computes them (modeling_<family>.py, eager attention; SDPA where
// transformers' sdpa path applies when libtorch >= 2), on ATen ops, with its linear layers behind
// LinearImpl.
#pragma once

#include "arch.hpp"
#include "rope.hpp"

#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qrun::hf {

// The projections of a decoder layer. Phi-3 stores q/k/v as one qkv_proj and gate/up as one
// gate_up_proj (the outputs side by side in that order); the other families store them apart.
enum Proj { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kQKV, kGateUp, kProjCount };
const char* proj_suffix(Proj p);  // "self_attn.q_proj", ..., "mlp.gate_up_proj"

// Every non-linear parameter, in the storage dtype on the model's device. Vectors are per layer;
// those a family lacks stay empty.
struct DecoderTensors {
  at::Tensor embed;                       // model.embed_tokens.weight [vocab, hidden]
  std::vector<at::Tensor> input_norm;     // input_layernorm.weight [hidden]
  std::vector<at::Tensor> post_norm;      // post_attention_layernorm.weight [hidden]
  std::vector<at::Tensor> pre_ffn_norm;   // Gemma: pre_feedforward_layernorm.weight [hidden]
  std::vector<at::Tensor> post_ffn_norm;  // Gemma: post_feedforward_layernorm.weight [hidden]
  std::vector<at::Tensor> q_norm, k_norm; // Qwen3, Gemma 3: self_attn.q_norm / k_norm.weight [head_dim]
  at::Tensor final_norm;                  // model.norm.weight [hidden]
};

using NamedLinears = std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>>;

// A decode step's projections merged per layer: [q; k; v] and [gate; up] as one layer each, so
// that one GEMM replaces three and two. Merged when every layer's forward is
// linear(x, weight(compute), bias) (LinearImpl::forward_is_dequantized_linear: dense, nf4, ...)
// into one dense layer, or else by the layers' own kind (LinearImpl::merge_with, e.g. LLM.int8
// stacks CB, SCB and bias: each output row is computed as before). Null: not merged. Phi-3's
// qkv_proj and gate_up_proj are these layers already. The dense merge gives the same sums as
// separate GEMMs, possibly in another order (cuBLAS picks its kernel by shape): decode results
// agree to rounding, not bit for bit.
struct MergedProjections {
  std::vector<std::shared_ptr<LinearImpl>> qkv, gate_up;  // per layer
};

// The per-layer keys and values of earlier tokens, [B, kv_heads, S, head_dim] each.
// Dynamic (default): each step appends (at::cat), S grows. Static (`slot` defined): k/v are
// preallocated [B, kv_heads, S_max, head_dim] and a step of one token writes its keys and
// values at index `slot` ([1] int64 on the device) in place: no allocation and no host value
// per step, which is what lets a CUDA graph replay the step (transformers' StaticCache).
struct KvCache {
  std::vector<at::Tensor> k, v;
  at::Tensor slot;
};

// Which keys each query may see, [B, 1, T, S] bool (true: attend), per layer type. Undefined:
// no mask (SDPA's is_causal path, as transformers' sdpa path when nothing is padded).
struct AttentionMasks {
  at::Tensor full, sliding;
};

class HfModel final : public Model {
 public:
  // `linears`: every layer's projections in forward order, then lm_head when untied.
  HfModel(ModelConfig config, Arch arch, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source,
          c10::Device device, DType storage, DType compute, DecoderTensors tensors, NamedLinears linears);

  const ModelConfig& config() const override { return config_; }
  const Arch& arch() const { return arch_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  const ModelSource& source() const override { return source_; }
  c10::Device device() const override { return device_; }
  DType compute_dtype() const override { return compute_; }
  DType storage_dtype() const override { return storage_; }

  std::vector<std::string> linear_names() const override;
  LinearImpl& linear(const std::string& name) override;
  const LinearImpl& linear(const std::string& name) const override;
  Result<void> set_linear(const std::string& name, std::shared_ptr<LinearImpl> impl) override;
  NamedTensors other_tensors() override;

  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask) override;
  at::Tensor logits_from_hidden(const at::Tensor& hidden) override;
  Result<std::vector<Generation>> generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                           const GenerationConfig& config) override;
  Result<std::unique_ptr<Model>> clone() const override;

  // The decoder on new tokens: ids/positions [B, T] on device(), key_mask [B, S] (S = cached +
  // T; 1 real, 0 padding). Appends this step's keys and values to `cache` when given.
  // Returns the hidden states after the final norm, [B, T, hidden], compute dtype.
  at::Tensor decode(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_mask, KvCache* cache);

  // One token per row against a static cache: ids/positions [B, 1], key_mask [B, S_max] bool
  // (true = a real token at that slot; the caller marks cache->slot before the step). No host
  // synchronisation and no allocation that depends on values: safe to capture in a CUDA graph.
  // Returns the hidden states after the final norm, [B, 1, hidden], compute dtype.
  at::Tensor decode_static(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_mask,
                           KvCache& cache, const MergedProjections* merged = nullptr);
  // The merged weights of the current layers (built per generation: layers or their weights may
  // change between calls, e.g. a defense editing weights in place).
  MergedProjections merge_projections() const;

  // generate() after the prompt checks, with a static cache (and, on CUDA with libtorch 2,
  // greedy steps replayed from one CUDA graph). generate() takes this path on CUDA; on the CPU
  // it is reachable for tests, which compare it with the dynamic-cache path.
  Result<std::vector<Generation>> generate_static(const std::vector<std::vector<std::int64_t>>& prompts,
                                                  const GenerationConfig& config, bool allow_graph);
  // Whether every linear layer's forward on `rows` rows runs without a host synchronisation.
  bool graph_safe(std::int64_t rows) const;

 private:
  struct Rope {  // one Rotary's tables for this step's positions
    at::Tensor cos, sin;
  };
  const LinearImpl& proj(std::int64_t layer, Proj p) const { return *linears_[slots_[layer][p]].second; }
  bool sliding(std::int64_t layer) const { return arch_.sliding[layer]; }
  const Rope& rope_of(std::int64_t layer, const std::vector<Rope>& ropes) const {
    return ropes[arch_.local_rope && sliding(layer) ? 1 : 0];
  }
  const at::Tensor& mask_of(std::int64_t layer, const AttentionMasks& m) const { return sliding(layer) ? m.sliding : m.full; }

  // Embeddings (Gemma: times sqrt(hidden) in the embedding dtype) in the compute dtype, [B, T, hidden].
  at::Tensor embed(const at::Tensor& ids) const;
  // Every Rotary's cos/sin [B, 1, T, rotary_dim] for `positions` [B, T] (updates dynamic RoPE).
  std::vector<Rope> rope_tables(const at::Tensor& positions);
  // Masks of a dynamic-cache step of T queries after S - T cached keys (attention.cpp).
  AttentionMasks masks(std::int64_t t, const at::Tensor& key_mask) const;
  // q [B, heads, T, hd], k/v [B, kv_heads, T, hd] of layer `l`: projections (merged when given),
  // q/k norms, rotary embedding (attention.cpp).
  void qkv_heads(std::int64_t l, const at::Tensor& x, const Rope& rope, const MergedProjections* merged,
                 at::Tensor& q, at::Tensor& k, at::Tensor& v) const;
  // softmax(q k^T * scaling [soft-capped] + mask) v, q [B, kv, G, T, hd]-compatible with k/v (attention.cpp).
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& allowed,
                    bool causal) const;
  at::Tensor attention(std::int64_t layer, const at::Tensor& x, const Rope& rope, const at::Tensor& allowed,
                       KvCache* cache) const;
  // The attention of one new token per row against a static cache (see decode_static).
  at::Tensor attention_static(std::int64_t layer, const at::Tensor& x, const Rope& rope, const at::Tensor& allowed,
                              KvCache& cache, const MergedProjections* merged) const;
#ifdef QRUN_HF_CUDA_KERNELS
  at::Tensor decode_static_fused(at::Tensor h, const Rope& rope, const AttentionMasks& masks, KvCache& cache,
                                 const MergedProjections& merged);
#endif
  // Residual stream + the attention output (Gemma: after its post-attention norm).
  at::Tensor add_attention(std::int64_t layer, const at::Tensor& h, const at::Tensor& attn) const;
  // The residual MLP half of layer `l` (its norm(s), gate/up, activation, down).
  at::Tensor mlp_block(std::int64_t layer, const at::Tensor& h, const MergedProjections* merged = nullptr) const;
  // RMSNorm over the last dimension: LlamaRMSNorm (w * x.to(dtype)) or Gemma's ((1 + w) in float32).
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const;
  std::size_t index_of(const std::string& name) const;  // throws ErrorException if unknown

  ModelConfig config_;
  Arch arch_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ModelSource source_;
  c10::Device device_;
  DType storage_, compute_;
  c10::ScalarType compute_st_;
  DecoderTensors t_;
  NamedLinears linears_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::array<std::size_t, kProjCount>> slots_;  // per layer: Proj -> index into linears_
  std::vector<Rotary> rotary_;  // [0]: full-attention layers (all layers); [1]: Gemma 3's sliding layers
  at::Tensor embed_scale_;      // Gemma: sqrt(hidden_size) as a 0-dim tensor in the storage dtype
  bool fused_decode_ = false;   // the CUDA decode kernels apply (plain RMSNorm, SiLU, full rotary, no caps)
};

}  // namespace qrun::hf
