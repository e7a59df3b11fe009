// How llama.cpp's converter (ggml-org/llama.cpp convert_hf_to_gguf.py, gguf-py/gguf/constants.py
// and tensor_mapping.py) names and lays out the tensors of the decoder families qrun runs, both
// ways: Hugging Face checkpoint name <-> GGUF tensor name, and Llama's rotary row permutation.
//   LlamaForCausalLM, MistralForCausalLM -> "llama" (q/k rows permuted for ggml's rotary layout)
//   Qwen2ForCausalLM -> "qwen2", Qwen3ForCausalLM -> "qwen3", Gemma2ForCausalLM -> "gemma2",
//   Gemma3ForCausalLM -> "gemma3" (norm weights stored as 1 + w), Phi3ForCausalLM -> "phi3"
// Pure C++ (no libtorch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qrun::gguf {

enum class Arch { llama, qwen2, qwen3, gemma2, gemma3, phi3 };

// "LlamaForCausalLM" ... -> the GGUF architecture; nullopt for a family llama.cpp's converter
// maps elsewhere or qrun does not run.
std::optional<Arch> arch_from_hf(std::string_view hf_architecture);
std::optional<Arch> arch_from_gguf(std::string_view general_architecture);
const char* arch_name(Arch a);  // general.architecture: "llama", "qwen2", ...

bool permutes_qk(Arch a);         // LlamaModel.permute on q_proj/k_proj weights and biases
bool norm_plus_one(Arch a);       // Gemma2/Gemma3: "*norm.weight" stored as w + 1
bool is_norm_weight(std::string_view hf_name);  // ends with "norm.weight"

// The GGUF name of a Hugging Face tensor ("model.layers.3.self_attn.q_proj.weight" ->
// "blk.3.attn_q.weight"), or nullopt for a tensor the converter does not map.
std::optional<std::string> gguf_tensor_name(Arch a, std::string_view hf_name);
// The inverse: "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight" (Phi-3's
// "attn_qkv"/"ffn_up" -> qkv_proj/gate_up_proj), or nullopt for a name without an HF tensor
// (rope_freqs.weight, or a tensor of another architecture).
std::optional<std::string> hf_tensor_name(Arch a, std::string_view gguf_name);

// LlamaModel.permute(w, n_head, n_head_kv) on `rows` rows of `row_bytes` bytes each (the rows of a
// q or k weight, their ggml blocks, or the values of a bias): within each of `n_head` heads of
// `rows / n_head` rows, HF's rotary halves [x0..x(d/2-1) | y0..y(d/2-1)] become interleaved pairs
// (x0 y0 x1 y1 ...): destination row h*d + 2i + j is source row h*d + j*d/2 + i.
// `inverse` undoes it. src and dst must not overlap.
void permute_qk_rows(const std::uint8_t* src, std::uint8_t* dst, std::int64_t rows, std::size_t row_bytes,
                     std::int64_t n_head, bool inverse);

}  // namespace qrun::gguf
