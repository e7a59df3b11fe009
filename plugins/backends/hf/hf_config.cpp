// config.json parsing for the decoder families of arch.hpp. Field names and defaults are those of
// transformers' LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, Gemma2Config,
// Gemma3TextConfig and Phi3Config; the RoPE fields are read by rope_config.cpp.
#include "hf_config.hpp"

#include "config_json.hpp"
#include "rope_config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace qrun::hf {
namespace {

using nlohmann::json;

const char* kArchitectures =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM, "
    "Gemma3ForCausalLM or Phi3ForCausalLM";

Result<json> read_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Error{file.string(), "cannot open", "check that the model folder contains this file",
                 std::filesystem::exists(file) ? ErrorCode::io : ErrorCode::not_found};
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    return Error{file.string(), std::string("invalid JSON (") + e.what() + ")", "re-download the file", ErrorCode::corrupt_input};
  }
}

// eos_token_id may be an int or a list of ints.
Result<void> add_token_ids(const std::filesystem::path& file, const json& j, const std::string& key,
                           std::vector<std::int64_t>& out) {
  if (!j.contains(key) || j.at(key).is_null()) return {};
  const json& v = j.at(key);
  auto add = [&](const json& x) -> bool {
    if (!x.is_number_integer() || x.get<std::int64_t>() < 0) return false;
    const auto id = x.get<std::int64_t>();
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    return true;
  };
  bool ok = true;
  if (v.is_array()) {
    for (const auto& x : v) ok = ok && add(x);
  } else {
    ok = add(v);
  }
  if (!ok) {
    return Error{file.string() + " " + key, "must be a token id or a list of ids, got " + v.dump(), "fix the file",
                 ErrorCode::corrupt_input};
  }
  return {};
}

std::optional<Family> family_of(const std::string& architecture) {
  for (Family f : {Family::kLlama, Family::kQwen2, Family::kMistral, Family::kQwen3, Family::kGemma2, Family::kGemma3,
                   Family::kPhi3})
    if (architecture == family_name(f)) return f;
  return std::nullopt;
}

bool is_gemma(Family f) { return f == Family::kGemma2 || f == Family::kGemma3; }

Result<void> set(std::int64_t& dst, Result<std::int64_t> v) {
  if (!v) return v.error();
  dst = *v;
  return {};
}

// Sizes and the plain numbers of ModelConfig (defaults: each family's config class).
Result<void> read_sizes(const JsonReader& r, Family family, ModelConfig& c) {
  QRUN_TRY(set(c.vocab_size, r.positive("vocab_size")));
  QRUN_TRY(set(c.hidden_size, r.positive("hidden_size")));
  QRUN_TRY(set(c.intermediate_size, r.positive("intermediate_size")));
  QRUN_TRY(set(c.num_hidden_layers, r.positive("num_hidden_layers")));
  QRUN_TRY(set(c.num_attention_heads, r.positive("num_attention_heads")));
  QRUN_TRY(set(c.num_key_value_heads, r.positive("num_key_value_heads", c.num_attention_heads)));
  std::int64_t max_pos = 2048;  // LlamaConfig
  if (family == Family::kQwen2 || family == Family::kQwen3) max_pos = 32768;
  if (family == Family::kMistral || family == Family::kGemma3) max_pos = 131072;
  if (family == Family::kGemma2) max_pos = 8192;
  if (family == Family::kPhi3) max_pos = 4096;
  QRUN_TRY(set(c.max_position_embeddings, r.positive("max_position_embeddings", max_pos)));
  // head_dim: Gemma 2/3 default 256, Qwen3 128, the others hidden_size / num_attention_heads.
  std::optional<std::int64_t> head_dim;
  if (is_gemma(family)) head_dim = 256;
  if (family == Family::kQwen3) head_dim = 128;
  if (!r.has("head_dim") && !head_dim) {
    if (c.hidden_size % c.num_attention_heads != 0)
      return r.bad("hidden_size", "is not divisible by num_attention_heads", "fix config.json or give head_dim");
    head_dim = c.hidden_size / c.num_attention_heads;
  }
  QRUN_TRY(set(c.head_dim, r.positive("head_dim", head_dim)));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return r.bad("num_key_value_heads", "must divide num_attention_heads", "fix config.json");
  auto eps = r.number("rms_norm_eps", family == Family::kPhi3 ? 1e-5 : 1e-6);
  if (!eps) return eps.error();
  c.rms_norm_eps = *eps;
  if (!(c.rms_norm_eps > 0)) return r.bad("rms_norm_eps", "must be positive", "fix config.json");
  auto tie = r.boolean("tie_word_embeddings", is_gemma(family));  // Gemma configs tie by default
  if (!tie) return tie.error();
  c.tie_word_embeddings = *tie;
  return {};
}

// The activation, biases, norms, scalings and soft-caps of the family.
Result<void> read_features(const JsonReader& r, Family family, const ModelConfig& c, Arch& a) {
  if (is_gemma(family)) {
    // Gemma2MLP / Gemma3MLP: ACT2FN[config.hidden_activation] (hidden_act is not read).
    auto act = r.string("hidden_activation", "gelu_pytorch_tanh");
    if (!act) return act.error();
    if (*act != "gelu_pytorch_tanh" && *act != "gelu")
      return r.bad("hidden_activation", "activation '" + *act + "' is not implemented (gelu_pytorch_tanh, gelu are)",
                   "use a checkpoint with hidden_activation \"gelu_pytorch_tanh\"", ErrorCode::unsupported);
    a.act = *act == "gelu" ? Activation::kGelu : Activation::kGeluTanh;
    a.gemma_norm = a.sandwich_norms = a.embed_scale = true;
    auto qpas = r.number("query_pre_attn_scalar", 256);
    if (!qpas) return qpas.error();
    if (!(*qpas > 0)) return r.bad("query_pre_attn_scalar", "must be positive", "fix config.json");
    a.attn_scaling = std::pow(*qpas, -0.5);  // config.query_pre_attn_scalar**-0.5
    const bool gemma2 = family == Family::kGemma2;
    auto attn_cap = r.optional_number("attn_logit_softcapping");
    auto final_cap = r.optional_number("final_logit_softcapping");
    if (!attn_cap) return attn_cap.error();
    if (!final_cap) return final_cap.error();
    // Gemma2Config defaults 50 and 30 (null: off); Gemma3TextConfig defaults null.
    a.attn_softcap = r.j.contains("attn_logit_softcapping") ? *attn_cap : (gemma2 ? std::optional<double>(50.0) : std::nullopt);
    a.final_softcap = r.j.contains("final_logit_softcapping") ? *final_cap : (gemma2 ? std::optional<double>(30.0) : std::nullopt);
    for (const auto& [key, cap] : {std::pair{"attn_logit_softcapping", a.attn_softcap}, {"final_logit_softcapping", a.final_softcap}})
      if (cap && !(*cap > 0)) return r.bad(key, "must be positive or null", "fix config.json");
    auto bidirectional = r.boolean("use_bidirectional_attention", false);
    if (!bidirectional) return bidirectional.error();
    if (*bidirectional)
      return r.bad("use_bidirectional_attention", "bidirectional attention is not implemented (causal only)",
                   "use a causal language model checkpoint", ErrorCode::unsupported);
  } else {
    auto act = r.string("hidden_act", "silu");
    if (!act) return act.error();
    if (*act != "silu")
      return r.bad("hidden_act", "activation \"" + *act + "\" is not supported (only silu)",
                   "use a checkpoint with hidden_act \"silu\"", ErrorCode::unsupported);
    a.attn_scaling = std::pow(static_cast<double>(c.head_dim), -0.5);  // head_dim**-0.5
  }
  a.qk_norm = family == Family::kQwen3 || family == Family::kGemma3;
  a.fused_projections = family == Family::kPhi3;
  auto bias = r.boolean("attention_bias", false);
  if (!bias) return bias.error();
  if (family == Family::kQwen2) {
    a.qkv_bias = true;  // Qwen2Attention: q/k/v Linear(bias=True), o_proj bias=False
  } else if (family == Family::kLlama || family == Family::kQwen3 || is_gemma(family)) {
    a.qkv_bias = a.o_bias = *bias;  // q/k/v and o_proj: bias=config.attention_bias
  }  // Mistral and Phi-3 attention has no biases
  if (family == Family::kLlama) {
    auto mlp_bias = r.boolean("mlp_bias", false);
    if (!mlp_bias) return mlp_bias.error();
    a.mlp_bias = *mlp_bias;
  }
  return {};
}

// Which layers use sliding-window attention, and the window.
Result<void> read_layer_types(const JsonReader& r, Family family, const ModelConfig& c, Arch& a) {
  const auto layers = c.num_hidden_layers;
  // The window: Mistral, Gemma 2/3 default 4096; Qwen2/3 only with use_sliding_window; Phi-3 none.
  std::optional<std::int64_t> window;
  const bool qwen = family == Family::kQwen2 || family == Family::kQwen3;
  auto use_sliding = r.boolean("use_sliding_window", false);
  if (!use_sliding) return use_sliding.error();
  const bool default_4096 = family == Family::kMistral || is_gemma(family) || (qwen && *use_sliding);
  if (r.has("sliding_window") && (!qwen || *use_sliding)) {
    auto w = r.positive("sliding_window");
    if (!w) return w.error();
    window = *w;
  } else if (default_4096 && !r.j.contains("sliding_window")) {
    window = 4096;
  }
  // The layers: each config class's derivation when config.json has no layer_types.
  std::vector<bool> derived(layers, false);
  auto max_window_layers = r.positive("max_window_layers", 28);
  if (!max_window_layers) return max_window_layers.error();
  auto pattern = r.positive("sliding_window_pattern", 6);
  if (r.has("_sliding_window_pattern") && !r.has("sliding_window_pattern")) pattern = r.positive("_sliding_window_pattern");
  if (!pattern) return pattern.error();
  for (std::int64_t i = 0; i < layers; ++i) {
    if (family == Family::kGemma2) derived[i] = (i + 1) % 2 != 0;
    if (family == Family::kGemma3) derived[i] = (i + 1) % *pattern != 0;
    if (qwen) derived[i] = window.has_value() && i >= *max_window_layers;
    if (family == Family::kMistral || family == Family::kPhi3) derived[i] = window.has_value();
  }
  a.sliding = derived;
  if (r.has("layer_types")) {
    const json& types = r.j.at("layer_types");
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) != layers)
      return r.bad("layer_types", "must list one type per layer", "fix config.json");
    for (std::int64_t i = 0; i < layers; ++i) {
      if (types[i] != "full_attention" && types[i] != "sliding_attention")
        return r.bad("layer_types", "layer type " + types[i].dump() + " is not supported (full_attention, sliding_attention are)",
                     "use a checkpoint whose layers use full or sliding-window attention", ErrorCode::unsupported);
      a.sliding[i] = types[i] == "sliding_attention";
    }
    // Mistral, Phi-3 and Llama attention ignores layer_types: they must say what the model does.
    if ((family == Family::kMistral || family == Family::kPhi3 || family == Family::kLlama) && a.sliding != derived)
      return r.bad("layer_types", "disagrees with sliding_window (" + std::string(family_name(family)) +
                                      " applies one attention to every layer)",
                   "remove layer_types or make it match sliding_window");
  }
  const bool any_sliding = std::find(a.sliding.begin(), a.sliding.end(), true) != a.sliding.end();
  if (any_sliding && !window)
    return r.bad("layer_types", "has sliding_attention layers but no sliding window is set",
                 qwen ? "set use_sliding_window and sliding_window" : "set sliding_window");
  a.sliding_window = any_sliding ? *window : 0;
  return {};
}

Result<void> read_tokens(const std::filesystem::path& folder, const JsonReader& r, HfConfig& out) {
  ModelConfig& c = out.model;
  if (r.has("bos_token_id")) {
    if (!r.j.at("bos_token_id").is_number_integer()) return r.bad("bos_token_id", "must be an integer", "fix config.json");
    c.bos_token_id = r.j.at("bos_token_id").get<std::int64_t>();
  }
  QRUN_TRY(add_token_ids(r.file, r.j, "eos_token_id", c.eos_token_ids));
  const auto gen_file = folder / "generation_config.json";
  if (std::filesystem::exists(gen_file)) {
    auto gen = read_json(gen_file);
    if (!gen) return gen.error();
    if (!gen->is_object()) {
      return Error{gen_file.string(), "is not a JSON object", "re-download the file", ErrorCode::corrupt_input};
    }
    QRUN_TRY(add_token_ids(gen_file, *gen, "eos_token_id", c.eos_token_ids));
    out.has_generation_eos = gen->contains("eos_token_id") && !gen->at("eos_token_id").is_null();
  }
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (r.has(key) && r.j.at(key).is_string()) {
      out.torch_dtype = r.j.at(key).get<std::string>();
      break;
    }
  }
  return {};
}

// The RoPE of every layer (rope_config.cpp) and the rotated dimensions.
Result<void> read_rotary(const JsonReader& r, Family family, ModelConfig& c, Arch& a) {
  auto rope = read_rope(r, family, c.max_position_embeddings, c.head_dim);
  if (!rope) return rope.error();
  a.rope = rope->full;
  a.local_rope = rope->sliding;
  c.rope_theta = a.rope.theta;
  const double prf = a.rope.partial_rotary_factor;
  if (prf != 1.0 && family != Family::kPhi3)
    return r.bad("partial_rotary_factor", "partial rotary embeddings are implemented for Phi3ForCausalLM only",
                 "use a checkpoint with partial_rotary_factor 1", ErrorCode::unsupported);
  a.rotary_dim = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * prf);
  if (a.rotary_dim <= 0 || a.rotary_dim % 2 != 0)
    return r.bad(prf != 1.0 ? "partial_rotary_factor" : "head_dim", "gives " + std::to_string(a.rotary_dim) +
                                                                    " rotary dimensions; RoPE needs a positive even number",
                 "fix config.json");
  if (a.rope.type == "dynamic" && a.rotary_dim <= 2)
    return r.bad("rope_parameters", "dynamic RoPE needs more than 2 rotary dimensions", "fix config.json");
  return {};
}

}  // namespace

const char* family_name(Family f) {
  switch (f) {
    case Family::kLlama: return "LlamaForCausalLM";
    case Family::kQwen2: return "Qwen2ForCausalLM";
    case Family::kMistral: return "MistralForCausalLM";
    case Family::kQwen3: return "Qwen3ForCausalLM";
    case Family::kGemma2: return "Gemma2ForCausalLM";
    case Family::kGemma3: return "Gemma3ForCausalLM";
    case Family::kPhi3: return "Phi3ForCausalLM";
  }
  return "?";
}

Result<HfConfig> read_config(const std::filesystem::path& folder) {
  const auto file = folder / "config.json";
  auto parsed = read_json(file);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  if (!j.is_object()) return Error{file.string(), "is not a JSON object", "re-download the file", ErrorCode::corrupt_input};
  JsonReader r{file, j, ""};
  HfConfig out;
  ModelConfig& c = out.model;

  if (!r.has("architectures") || !j.at("architectures").is_array() || j.at("architectures").size() != 1 ||
      !j.at("architectures")[0].is_string())
    return r.bad("architectures", "must list exactly one architecture", std::string("qrun supports ") + kArchitectures);
  c.architecture = j.at("architectures")[0].get<std::string>();
  const auto family = family_of(c.architecture);
  if (!family)
    return r.bad("architectures", "architecture '" + c.architecture + "' is not supported",
                 std::string("use a ") + kArchitectures + " checkpoint", ErrorCode::unsupported);
  out.arch.family = *family;
  QRUN_TRY(read_sizes(r, *family, c));
  QRUN_TRY(read_features(r, *family, c, out.arch));
  QRUN_TRY(read_layer_types(r, *family, c, out.arch));
  QRUN_TRY(read_rotary(r, *family, c, out.arch));
  c.attention_bias = out.arch.qkv_bias;
  QRUN_TRY(read_tokens(folder, r, out));
  if (j.contains("quantization_config") && j.at("quantization_config").is_object()) {
    out.quantization_config = j.at("quantization_config");
  } else if (const auto qc = folder / "quantize_config.json"; std::filesystem::exists(qc)) {
    auto q = read_json(qc);
    if (!q) return q.error();
    if (!q->is_object()) return Error{qc.string(), "is not a JSON object", "re-download the file", ErrorCode::corrupt_input};
    out.quantization_config = *q;
  }
  return out;
}

}  // namespace qrun::hf
