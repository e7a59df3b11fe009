// Tensor names of llama.cpp's converter (see gguf_names.hpp), transcribed from
// gguf-py/gguf/tensor_mapping.py (MODEL_TENSOR -> HF names) and constants.py (GGUF names).
#include "gguf_names.hpp"

#include <cstring>
#include <regex>
#include <utility>
#include <vector>

namespace qrun::gguf {
namespace {

struct ArchRow {
  Arch arch;
  const char* gguf;
  const char* hf[2];
};
constexpr ArchRow kArchs[] = {
    {Arch::llama, "llama", {"LlamaForCausalLM", "MistralForCausalLM"}},
    {Arch::qwen2, "qwen2", {"Qwen2ForCausalLM", nullptr}},
    {Arch::qwen3, "qwen3", {"Qwen3ForCausalLM", nullptr}},
    {Arch::gemma2, "gemma2", {"Gemma2ForCausalLM", nullptr}},
    {Arch::gemma3, "gemma3", {"Gemma3ForCausalLM", nullptr}},
    {Arch::phi3, "phi3", {"Phi3ForCausalLM", nullptr}},
};

bool is_gemma(Arch a) { return a == Arch::gemma2 || a == Arch::gemma3; }

// Per-layer tensors: HF suffix after "model.layers.N." <-> GGUF suffix after "blk.N.".
// post_attention_layernorm is the FFN's input norm in Llama/Qwen/Phi-3 (ffn_norm) but the
// attention's output norm in Gemma 2/3 (post_attention_norm, with pre_feedforward_layernorm as
// ffn_norm).
std::vector<std::pair<std::string, std::string>> layer_map(Arch a) {
  std::vector<std::pair<std::string, std::string>> m = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.down_proj.bias", "ffn_down.bias"},
  };
  for (const char* p : {"q", "k", "v"})
    for (const char* s : {"weight", "bias"})
      m.emplace_back(std::string("self_attn.") + p + "_proj." + s, std::string("attn_") + p + "." + s);
  for (const char* s : {"weight", "bias"}) m.emplace_back(std::string("self_attn.o_proj.") + s, std::string("attn_output.") + s);
  if (a == Arch::phi3) {
    m.emplace_back("self_attn.qkv_proj.weight", "attn_qkv.weight");
    m.emplace_back("mlp.gate_up_proj.weight", "ffn_up.weight");
  } else {
    for (const char* s : {"weight", "bias"}) {
      m.emplace_back(std::string("mlp.gate_proj.") + s, std::string("ffn_gate.") + s);
      m.emplace_back(std::string("mlp.up_proj.") + s, std::string("ffn_up.") + s);
    }
  }
  if (is_gemma(a)) {
    m.emplace_back("post_attention_layernorm.weight", "post_attention_norm.weight");
    m.emplace_back("pre_feedforward_layernorm.weight", "ffn_norm.weight");
    m.emplace_back("post_feedforward_layernorm.weight", "post_ffw_norm.weight");
  } else {
    m.emplace_back("post_attention_layernorm.weight", "ffn_norm.weight");
  }
  return m;
}

const std::vector<std::pair<std::string, std::string>> kTopLevel = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

}  // namespace

std::optional<Arch> arch_from_hf(std::string_view hf_architecture) {
  for (const ArchRow& r : kArchs)
    for (const char* h : r.hf)
      if (h && hf_architecture == h) return r.arch;
  return std::nullopt;
}

std::optional<Arch> arch_from_gguf(std::string_view name) {
  for (const ArchRow& r : kArchs)
    if (name == r.gguf) return r.arch;
  return std::nullopt;
}

const char* arch_name(Arch a) {
  for (const ArchRow& r : kArchs)
    if (r.arch == a) return r.gguf;
  return "?";
}

bool permutes_qk(Arch a) { return a == Arch::llama; }
bool norm_plus_one(Arch a) { return is_gemma(a); }
bool is_norm_weight(std::string_view n) { return n.size() >= 11 && n.substr(n.size() - 11) == "norm.weight"; }

std::optional<std::string> gguf_tensor_name(Arch a, std::string_view hf_name) {
  for (const auto& [hf, gg] : kTopLevel)
    if (hf_name == hf) return gg;
  static const std::regex layer(R"(^model\.layers\.(\d+)\.(.+)$)");
  const std::string name(hf_name);
  std::smatch m;
  if (!std::regex_match(name, m, layer)) return std::nullopt;
  for (const auto& [hf, gg] : layer_map(a))
    if (m[2] == hf) return "blk." + m[1].str() + "." + gg;
  return std::nullopt;
}

std::optional<std::string> hf_tensor_name(Arch a, std::string_view gguf_name) {
  for (const auto& [hf, gg] : kTopLevel)
    if (gguf_name == gg) return hf;
  static const std::regex layer(R"(^blk\.(\d+)\.(.+)$)");
  const std::string name(gguf_name);
  std::smatch m;
  if (!std::regex_match(name, m, layer)) return std::nullopt;
  for (const auto& [hf, gg] : layer_map(a))
    if (m[2] == gg) return "model.layers." + m[1].str() + "." + hf;
  return std::nullopt;
}

void permute_qk_rows(const std::uint8_t* src, std::uint8_t* dst, std::int64_t rows, std::size_t row_bytes,
                     std::int64_t n_head, bool inverse) {
  const std::int64_t d = rows / n_head, half = d / 2;
  for (std::int64_t h = 0; h < n_head; ++h)
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t j = 0; j < 2; ++j) {
        const std::int64_t interleaved = h * d + 2 * i + j, split = h * d + j * half + i;
        const std::int64_t to = inverse ? split : interleaved, from = inverse ? interleaved : split;
        std::memcpy(dst + to * row_bytes, src + from * row_bytes, row_bytes);
      }
}

}  // namespace qrun::gguf
