// What distinguishes the decoder families the hf backend runs, as config.json (either form)
// states it: read by hf_config.cpp, used by the loader (which tensors exist) and HfModel (how
// the forward pass goes). Names follow transformers' configuration and modeling files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qrun::hf {

enum class Family { kLlama, kQwen2, kMistral, kQwen3, kGemma2, kGemma3, kPhi3 };
const char* family_name(Family f);  // the architecture: "LlamaForCausalLM", ...

// One RoPE parameterisation: a transformers rope_parameters dict after standardize_rope_params
// (modeling_rope_utils.py). Fields a type does not use keep their defaults.
struct RopeSpec {
  std::string type = "default";  // default | linear | dynamic | yarn | llama3 | longrope
  double theta = 10000.0;        // rope_theta
  double partial_rotary_factor = 1.0;
  std::optional<double> factor;  // linear, dynamic, llama3: required; yarn/longrope: null = derived
  std::int64_t original_max_position_embeddings = 0;  // yarn, llama3, longrope
  double low_freq_factor = 0, high_freq_factor = 0;   // llama3
  std::optional<double> attention_factor;              // yarn, longrope (null: derived)
  std::optional<double> beta_fast, beta_slow, mscale, mscale_all_dim;  // yarn
  bool truncate = true;                                // yarn
  std::vector<double> short_factor, long_factor;       // longrope, head_dim * prf / 2 each
};

enum class Activation { kSilu, kGeluTanh, kGelu };  // ACT2FN silu, gelu_pytorch_tanh, gelu

struct Arch {
  Family family = Family::kLlama;
  Activation act = Activation::kSilu;
  bool gemma_norm = false;         // RMSNorm output * (1 + w) in float32, then the input dtype (Gemma)
  bool sandwich_norms = false;     // Gemma 2/3: post-attention norm on the attention output, pre/post-FFN norms
  bool qk_norm = false;            // Qwen3, Gemma 3: RMSNorm over head_dim on every query and key head
  bool embed_scale = false;        // Gemma: embeddings times sqrt(hidden_size) in the embedding dtype
  bool fused_projections = false;  // Phi-3: self_attn.qkv_proj and mlp.gate_up_proj
  bool qkv_bias = false, o_bias = false, mlp_bias = false;
  double attn_scaling = 0;         // multiplies q k^T (head_dim^-0.5; Gemma: query_pre_attn_scalar^-0.5)
  std::optional<double> attn_softcap, final_softcap;  // Gemma: cap * tanh(x / cap)
  std::vector<bool> sliding;       // per layer: a sliding_attention layer
  std::int64_t sliding_window = 0; // keys a sliding layer's query sees, itself included (0: none)
  std::int64_t rotary_dim = 0;     // int(head_dim * partial_rotary_factor)
  RopeSpec rope;                   // full-attention layers (every layer unless local_rope)
  std::optional<RopeSpec> local_rope;  // Gemma 3: the sliding layers' own RoPE
};

}  // namespace qrun::hf
