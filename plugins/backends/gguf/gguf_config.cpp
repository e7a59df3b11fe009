// config.json from a GGUF file's <arch>.* keys: the inverse of gguf_export_meta.cpp, and what
// llama.cpp's src/llama-model.cpp (load_hparams) reads for these architectures, including its
// fixed choices where GGUF has no key: Gemma 2 slides on every other layer, Gemma 3 on 5 of 6
// with a local RoPE base of 10000; Gemma queries are scaled by head_dim^-0.5.
#include "gguf_model.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace qrun::gguf_backend {
namespace {

using nlohmann::json;
using gguf::Arch;
using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;

Error bad_key(const GgufFile& f, const std::string& key, const std::string& reason) {
  return Error::of(ErrorCode::corrupt_input, f.path().string() + " key '" + key + "'", reason,
                   "use a GGUF file written by llama.cpp's converter (or qrun quantize --out X.gguf)");
}

// An integer key of any GGUF integer type; nullopt when absent.
Result<std::optional<std::int64_t>> get_int(const GgufFile& f, const std::string& key) {
  const Value* v = f.find(key);
  if (!v) return std::optional<std::int64_t>();
  if (v->is_array) return bad_key(f, key, "is an array (per-layer values are not supported by qrun)");
  if (auto x = v->as<std::uint32_t>()) return std::optional<std::int64_t>(*x);
  if (auto x = v->as<std::int32_t>()) return std::optional<std::int64_t>(*x);
  if (auto x = v->as<std::uint64_t>()) return std::optional<std::int64_t>(static_cast<std::int64_t>(*x));
  if (auto x = v->as<std::int64_t>()) return std::optional<std::int64_t>(*x);
  if (auto x = v->as<std::uint16_t>()) return std::optional<std::int64_t>(*x);
  if (auto x = v->as<std::uint8_t>()) return std::optional<std::int64_t>(*x);
  return bad_key(f, key, std::string("is ") + std::string(gguf::value_type_name(v->type)) + ", expected an integer");
}

Result<std::optional<double>> get_float(const GgufFile& f, const std::string& key) {
  const Value* v = f.find(key);
  if (!v) return std::optional<double>();
  if (auto x = v->as<float>()) return std::optional<double>(*x);
  if (auto x = v->as<double>()) return std::optional<double>(*x);
  return bad_key(f, key, std::string("is ") + std::string(gguf::value_type_name(v->type)) + ", expected a float");
}

Result<std::int64_t> need_int(const GgufFile& f, const std::string& key) {
  QRUN_ASSIGN_OR_RETURN(const auto v, get_int(f, key));
  if (!v || *v <= 0) return bad_key(f, key, v ? "must be positive" : "missing");
  return *v;
}

// float32 -> the shortest double that prints back as the same float32 (1e-06, not 9.99999997e-07).
double clean(double x) {
  const float f = static_cast<float>(x);
  for (int digits = 6; digits <= 9; ++digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(f));
    const double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return x;
}

const char* hf_architecture(Arch a, bool sliding) {
  switch (a) {
    case Arch::llama: return sliding ? "MistralForCausalLM" : "LlamaForCausalLM";
    case Arch::qwen2: return "Qwen2ForCausalLM";
    case Arch::qwen3: return "Qwen3ForCausalLM";
    case Arch::gemma2: return "Gemma2ForCausalLM";
    case Arch::gemma3: return "Gemma3ForCausalLM";
    case Arch::phi3: return "Phi3ForCausalLM";
  }
  return "?";
}

// rope_scaling from the rope.scaling.* keys, or from rope_freqs.weight (Llama 3's per-frequency
// divisors: the same inverse frequencies as HF's longrope with those factors, no attention factor).
Result<void> rope_scaling(const GgufFile& f, const std::string& a, std::int64_t ctx_len, json& c) {
  if (const gguf::TensorInfo* t = f.find_tensor("rope_freqs.weight")) {
    if (t->type != gguf::GgmlType::f32 || t->ne.size() != 1)
      return Error::of(ErrorCode::corrupt_input, f.path().string() + " tensor 'rope_freqs.weight'", "must be a float32 vector",
                       "re-export the file");
    const auto bytes = f.data(*t);
    std::vector<double> factors(static_cast<std::size_t>(t->ne[0]));
    for (std::size_t i = 0; i < factors.size(); ++i) {
      float x;
      std::memcpy(&x, bytes.data() + 4 * i, 4);
      factors[i] = x;
    }
    c["rope_scaling"] = {{"rope_type", "longrope"}, {"short_factor", factors}, {"long_factor", factors},
                         {"original_max_position_embeddings", ctx_len}, {"attention_factor", 1.0}};
    return {};
  }
  const Value* type = f.find(a + ".rope.scaling.type");
  if (!type) return {};
  const auto name = type->as<std::string>();
  if (!name) return bad_key(f, a + ".rope.scaling.type", "is not a string");
  if (*name == "none") return {};
  QRUN_ASSIGN_OR_RETURN(const auto factor, get_float(f, a + ".rope.scaling.factor"));
  if (*name == "linear") {
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", clean(factor.value_or(1.0))}};
    return {};
  }
  if (*name == "yarn") {
    json r = {{"rope_type", "yarn"}, {"factor", clean(factor.value_or(1.0))}};
    QRUN_ASSIGN_OR_RETURN(const auto orig, get_int(f, a + ".rope.scaling.original_context_length"));
    if (orig) r["original_max_position_embeddings"] = *orig;
    QRUN_ASSIGN_OR_RETURN(const auto attn, get_float(f, a + ".rope.scaling.attn_factor"));
    if (attn) r["attention_factor"] = clean(*attn);
    QRUN_ASSIGN_OR_RETURN(const auto fast, get_float(f, a + ".rope.scaling.yarn_beta_fast"));
    if (fast) r["beta_fast"] = clean(*fast);
    QRUN_ASSIGN_OR_RETURN(const auto slow, get_float(f, a + ".rope.scaling.yarn_beta_slow"));
    if (slow) r["beta_slow"] = clean(*slow);
    c["rope_scaling"] = r;
    return {};
  }
  return Error::of(ErrorCode::unsupported, f.path().string() + " key '" + a + ".rope.scaling.type'",
                   "RoPE scaling '" + *name + "' is not read by qrun", "use a file with none, linear or yarn RoPE scaling");
}

std::optional<std::int64_t> token_id(const GgufFile& f, const char* key) {
  auto v = get_int(f, std::string("tokenizer.ggml.") + key);
  return v ? *v : std::nullopt;
}

}  // namespace

Result<gguf::Arch> file_arch(const GgufFile& f) {
  const Value* v = f.find("general.architecture");
  const auto name = v ? v->as<std::string>() : std::nullopt;
  if (!name) return bad_key(f, "general.architecture", v ? "is not a string" : "missing");
  const auto a = gguf::arch_from_gguf(*name);
  if (!a)
    return Error::of(ErrorCode::unsupported, f.path().string() + " key 'general.architecture'",
                     "architecture '" + *name + "' is not one qrun runs",
                     "use a llama, qwen2, qwen3, gemma2, gemma3 or phi3 GGUF file");
  return *a;
}

Result<json> config_from_gguf(const GgufFile& f, Arch arch) {
  const std::string a = gguf::arch_name(arch);
  json c = json::object();
  QRUN_ASSIGN_OR_RETURN(const std::int64_t hidden, need_int(f, a + ".embedding_length"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t heads, need_int(f, a + ".attention.head_count"));
  QRUN_ASSIGN_OR_RETURN(const auto kv_heads, get_int(f, a + ".attention.head_count_kv"));
  QRUN_ASSIGN_OR_RETURN(const auto key_len, get_int(f, a + ".attention.key_length"));
  QRUN_ASSIGN_OR_RETURN(const auto rot_dim, get_int(f, a + ".rope.dimension_count"));
  QRUN_ASSIGN_OR_RETURN(const auto ctx_len, get_int(f, a + ".context_length"));
  QRUN_ASSIGN_OR_RETURN(const auto window, get_int(f, a + ".attention.sliding_window"));
  QRUN_ASSIGN_OR_RETURN(const auto eps, get_float(f, a + ".attention.layer_norm_rms_epsilon"));
  QRUN_ASSIGN_OR_RETURN(const auto base, get_float(f, a + ".rope.freq_base"));
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->ne.size() != 2)
    return Error::of(ErrorCode::corrupt_input, f.path().string() + " tensor 'token_embd.weight'", embd ? "is not 2-D" : "missing",
                     "use a complete GGUF model file");
  const std::int64_t head_dim = key_len.value_or(hidden / heads);
  c["architectures"] = {hf_architecture(arch, arch == Arch::llama && window.has_value())};
  c["hidden_size"] = hidden;
  QRUN_ASSIGN_OR_RETURN(c["intermediate_size"], need_int(f, a + ".feed_forward_length"));
  QRUN_ASSIGN_OR_RETURN(c["num_hidden_layers"], need_int(f, a + ".block_count"));
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = kv_heads.value_or(heads);
  c["head_dim"] = head_dim;
  c["vocab_size"] = embd->ne[1];
  c["max_position_embeddings"] = ctx_len.value_or(4096);
  c["rms_norm_eps"] = clean(eps.value_or(1e-6));
  c["rope_theta"] = base.value_or(arch == Arch::gemma3 ? 1e6 : 10000.0);
  c["tie_word_embeddings"] = f.find_tensor("output.weight") == nullptr;
  c["torch_dtype"] = "float32";
  if (auto id = token_id(f, "bos_token_id")) c["bos_token_id"] = *id;
  if (auto id = token_id(f, "eos_token_id")) c["eos_token_id"] = *id;
  const bool q_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (arch == Arch::llama || arch == Arch::qwen3 || arch == Arch::gemma2 || arch == Arch::gemma3)
    c["attention_bias"] = q_bias;
  if (arch == Arch::llama) c["mlp_bias"] = f.find_tensor("blk.0.ffn_up.bias") != nullptr;
  if (rot_dim && *rot_dim != head_dim) c["partial_rotary_factor"] = static_cast<double>(*rot_dim) / static_cast<double>(head_dim);
  QRUN_TRY(rope_scaling(f, a, ctx_len.value_or(4096), c));
  if (arch == Arch::gemma2 || arch == Arch::gemma3) {
    c["hidden_activation"] = "gelu_pytorch_tanh";
    c["query_pre_attn_scalar"] = head_dim;
    c["sliding_window"] = window.value_or(4096);
    QRUN_ASSIGN_OR_RETURN(const auto attn_cap, get_float(f, a + ".attn_logit_softcapping"));
    QRUN_ASSIGN_OR_RETURN(const auto final_cap, get_float(f, a + ".final_logit_softcapping"));
    c["attn_logit_softcapping"] = attn_cap ? json(clean(*attn_cap)) : json();
    c["final_logit_softcapping"] = final_cap ? json(clean(*final_cap)) : json();
    if (arch == Arch::gemma3) {
      c["model_type"] = "gemma3_text";
      c["rope_local_base_freq"] = 10000.0;
      c["sliding_window_pattern"] = 6;
    }
  } else {
    c["hidden_act"] = "silu";
    if (window) c["sliding_window"] = *window;
    else c["sliding_window"] = json();
  }
  if (arch == Arch::qwen2 || arch == Arch::qwen3) c["use_sliding_window"] = false;
  if (arch == Arch::phi3) {
    QRUN_ASSIGN_OR_RETURN(const auto orig, get_int(f, a + ".rope.scaling.original_context_length"));
    c["original_max_position_embeddings"] = orig.value_or(ctx_len.value_or(4096));
    if (f.find_tensor("rope_factors_long.weight"))
      return Error::of(ErrorCode::unsupported, f.path().string() + " tensor 'rope_factors_long.weight'",
                       "Phi-3 longrope factors are not read by qrun yet", "use a Phi-3 file without long-context RoPE");
  }
  return c;
}

}  // namespace qrun::gguf_backend
