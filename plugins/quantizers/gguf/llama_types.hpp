// llama.cpp's per-tensor type policy (ggml-org/llama.cpp src/llama-quant.cpp at commit 007dbbf3:
// tensor_type_fallback, llama_tensor_get_type_impl, llama_ftype_get_default_type), the parts qrun
// uses: the file types ("mixes") of dense models with the ggml types qrun implements.
#pragma once

#include "ggml_types.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::gguf {

// tensor_type_fallback: the type a tensor with rows of `ncols` values gets when `target`'s block
// size does not divide its rows (llama-quantize warns and falls back): q2_K, q3_K -> q4_0;
// q4_K -> q5_0; q5_K -> q5_1; q6_K -> q8_0; iq4_xs -> iq4_nl; f16 when the fallback's 32-value
// blocks do not fit either. `target` itself when its blocks fit; nullopt when llama.cpp has no
// fallback (a 32-value block type on rows that are not a multiple of 32: it stops with an error).
std::optional<GgmlType> fallback_type(GgmlType target, std::int64_t ncols);

// llama-quantize's file types (llama_ftype) built from the types qrun implements.
enum class Mix { Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q2_K_S, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M,
                 Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS };
std::optional<Mix> parse_mix(std::string_view name);  // "Q4_K_M", any case
const char* mix_name(Mix m);                           // "Q4_K_M"
GgmlType mix_default_type(Mix m);                      // llama_ftype_get_default_type
bool mix_requires_imatrix(Mix m);                      // Q2_K_S (its q2_K tensors)
std::vector<std::string> mix_names();

// What the policy reads from the model (llama_hparams; dense models only: no experts, not Falcon).
struct MixModel {
  std::int64_t n_layer = 0;
  std::int64_t n_head = 0, n_head_kv = 0;  // n_gqa = n_head / n_head_kv
  bool llama_70b = false;                  // LLM_TYPE_70B: Llama with 80 layers and grouped KV heads
  bool has_imatrix = false;
};

// A quantizable tensor by its llama.cpp name ("blk.3.attn_v.weight", "output.weight",
// "token_embd.weight") and row length.
struct MixTensor {
  std::string name;
  std::int64_t ncols = 0;
};

// llama_tensor_get_type for every tensor, then tensor_type_fallback (nullopt entries: no fallback).
// The layer-dependent rules count attn_v / ffn_down tensors in the order llama-quantize visits them,
// its tensor map's order: names sorted as strings ("blk.10." before "blk.2.").
std::map<std::string, std::optional<GgmlType>> mix_types(Mix mix, const MixModel& model, const std::vector<MixTensor>& tensors);

// The llama.cpp name of a Hugging Face linear layer or embedding of the Llama family (Llama,
// Mistral, Qwen2/3, Gemma, Phi-3): "model.layers.3.self_attn.v_proj" -> "blk.3.attn_v.weight",
// "lm_head" -> "output.weight", "model.embed_tokens" -> "token_embd.weight"; other names unchanged.
std::string llama_tensor_name(const std::string& hf_name);

}  // namespace qrun::gguf
