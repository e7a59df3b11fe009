// general.* and <arch>.* keys of a GGUF export, as llama.cpp's convert_hf_to_gguf.py writes them
// (TextModel.set_gguf_parameters and the LlamaModel / Qwen2Model / Qwen3Model / Gemma2Model /
// Gemma3Model / Phi3MiniModel overrides; key names from gguf-py/gguf/constants.py Keys.LLM,
// Keys.Attention, Keys.Rope), from config.json in either transformers form.
#include "gguf_export.hpp"

#include <cmath>

namespace qrun::gguf {
namespace {

using nlohmann::json;

struct Reader {
  const json& c;
  const std::string& where;
  Error bad(const std::string& key, const std::string& reason, const std::string& fix,
            ErrorCode code = ErrorCode::invalid_argument) const {
    return Error::of(code, where + " " + key, reason, fix);
  }
  Result<std::int64_t> integer(const std::string& key, std::optional<std::int64_t> fallback = std::nullopt) const {
    if (c.contains(key) && c.at(key).is_number_integer() && c.at(key).get<std::int64_t>() > 0) return c.at(key).get<std::int64_t>();
    if ((!c.contains(key) || c.at(key).is_null()) && fallback) return *fallback;
    return bad(key, "missing or not a positive integer", "use the model's own config.json", ErrorCode::corrupt_input);
  }
  std::optional<double> number(const json& j, const std::string& key) const {
    if (j.is_object() && j.contains(key) && j.at(key).is_number()) return j.at(key).get<double>();
    return std::nullopt;
  }
};

template <class T> void put(std::vector<KeyValue>& kv, std::string key, T v) { kv.push_back({std::move(key), Value::of(v)}); }
void put_u32(std::vector<KeyValue>& kv, std::string key, std::int64_t v) { put(kv, std::move(key), static_cast<std::uint32_t>(v)); }
void put_f32(std::vector<KeyValue>& kv, std::string key, double v) { put(kv, std::move(key), static_cast<float>(v)); }

// The RoPE dict of the full-attention layers: rope_parameters (transformers 5; Gemma 3 nests it
// per layer type) or rope_scaling + rope_theta (transformers 4).
json rope_dict(Arch arch, const json& c) {
  json r = json::object();
  if (c.contains("rope_parameters") && c.at("rope_parameters").is_object()) r = c.at("rope_parameters");
  else if (c.contains("rope_scaling") && c.at("rope_scaling").is_object()) r = c.at("rope_scaling");
  if (arch == Arch::gemma3 && r.contains("full_attention") && r.at("full_attention").is_object()) r = r.at("full_attention");
  if (!r.contains("rope_theta") && c.contains("rope_theta")) r["rope_theta"] = c.at("rope_theta");
  return r;
}

std::string rope_type(const json& r) {
  for (const char* k : {"rope_type", "type"})
    if (r.contains(k) && r.at(k).is_string()) return r.at(k).get<std::string>();
  return "default";
}

// LlamaModel.generate_extra_tensors for rope_type llama3: one factor per rotary frequency.
std::vector<float> llama3_rope_factors(const json& r, double base, std::int64_t dim) {
  const double factor = r.value("factor", 8.0), low = r.value("low_freq_factor", 1.0), high = r.value("high_freq_factor", 4.0);
  const double old_ctx = r.value("original_max_position_embeddings", 8192.0);
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (std::int64_t i = 0; i < dim; i += 2) {
    // freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)), in float32
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / std::pow(static_cast<float>(base), exponent);
    const double wavelen = 2 * 3.141592653589793 / static_cast<double>(freq);
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(static_cast<float>(factor));
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(static_cast<float>(1 / ((1 - smooth) / factor + smooth)));
    }
  }
  return out;
}

Result<void> rope_keys(Arch arch, const Reader& rd, const std::string& a, std::int64_t rot_dim, ArchMetadata& m) {
  const json r = rope_dict(arch, rd.c);
  const double base = rd.number(r, "rope_theta").value_or(arch == Arch::gemma3 ? 1e6 : 10000.0);
  put_f32(m.kv, a + ".rope.freq_base", base);
  const std::string type = rope_type(r);
  if (type == "default") return {};
  if (type == "linear") {
    put(m.kv, a + ".rope.scaling.type", std::string("linear"));
    put_f32(m.kv, a + ".rope.scaling.factor", rd.number(r, "factor").value_or(1.0));
    return {};
  }
  if (type == "yarn") {
    put(m.kv, a + ".rope.scaling.type", std::string("yarn"));
    put_f32(m.kv, a + ".rope.scaling.factor", rd.number(r, "factor").value_or(1.0));
    if (auto o = rd.number(r, "original_max_position_embeddings")) put_u32(m.kv, a + ".rope.scaling.original_context_length", static_cast<std::int64_t>(*o));
    if (auto f = rd.number(r, "attention_factor")) put_f32(m.kv, a + ".rope.scaling.attn_factor", *f);
    if (auto f = rd.number(r, "beta_fast")) put_f32(m.kv, a + ".rope.scaling.yarn_beta_fast", *f);
    if (auto f = rd.number(r, "beta_slow")) put_f32(m.kv, a + ".rope.scaling.yarn_beta_slow", *f);
    return {};
  }
  if (type == "llama3" && arch == Arch::llama) {
    m.rope_freqs = llama3_rope_factors(r, base, rot_dim);
    return {};
  }
  return rd.bad("rope_parameters", "RoPE type '" + type + "' is not exported to GGUF by qrun",
                "export a model with default, linear, yarn or (Llama) llama3 RoPE", ErrorCode::unsupported);
}

// Sliding-window attention and Gemma's soft-capping.
Result<void> attention_keys(Arch arch, const Reader& rd, const std::string& a, std::int64_t head_dim, ArchMetadata& m) {
  const json& c = rd.c;
  const auto window = c.contains("sliding_window") && c.at("sliding_window").is_number_integer()
                          ? std::optional<std::int64_t>(c.at("sliding_window").get<std::int64_t>()) : std::nullopt;
  if (arch == Arch::gemma2 || arch == Arch::gemma3) {
    const auto scalar = rd.number(c, "query_pre_attn_scalar");
    if (scalar && *scalar != static_cast<double>(head_dim))
      return rd.bad("query_pre_attn_scalar", "is " + std::to_string(*scalar) + ", not head_dim (" + std::to_string(head_dim) +
                                                 "); llama.cpp scales Gemma's queries by head_dim^-0.5 (27B: hidden/heads)",
                    "export a model whose query_pre_attn_scalar equals head_dim", ErrorCode::unsupported);
    if (window) put_u32(m.kv, a + ".attention.sliding_window", *window);
    if (auto s = rd.number(c, "attn_logit_softcapping")) put_f32(m.kv, a + ".attn_logit_softcapping", *s);
    if (auto s = rd.number(c, "final_logit_softcapping")) put_f32(m.kv, a + ".final_logit_softcapping", *s);
    return {};
  }
  if ((arch == Arch::qwen2 || arch == Arch::qwen3) && c.value("use_sliding_window", false))
    return rd.bad("use_sliding_window", "Qwen sliding-window attention has no GGUF key llama.cpp reads",
                  "export a model without use_sliding_window", ErrorCode::unsupported);
  // Mistral (converted as "llama") and Phi-3: the converter's add_sliding_window; llama.cpp's llama
  // graph does not apply it, qrun's GGUF reader does (so a read-back model equals the original).
  if ((arch == Arch::llama || arch == Arch::phi3) && window) put_u32(m.kv, a + ".attention.sliding_window", *window);
  return {};
}

}  // namespace

std::optional<std::uint32_t> llama_ftype(const std::string& name) {
  // llama_ftype (include/llama.h) by llama-quantize's name, and the type a pure file is named after.
  static const std::pair<const char*, std::uint32_t> kTypes[] = {
      {"f32", 0}, {"f16", 1}, {"q4_0", 2}, {"q4_1", 3}, {"q8_0", 7}, {"q5_0", 8}, {"q5_1", 9}, {"q2_K", 10},
      {"Q2_K", 10}, {"Q3_K_S", 11}, {"Q3_K_M", 12}, {"q3_K", 12}, {"Q3_K_L", 13}, {"Q4_K_S", 14}, {"Q4_K_M", 15},
      {"q4_K", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17}, {"q5_K", 17}, {"Q6_K", 18}, {"q6_K", 18}, {"Q2_K_S", 21},
      {"iq4_nl", 25}, {"IQ4_NL", 25}, {"iq4_xs", 30}, {"IQ4_XS", 30}, {"bf16", 32}, {"mxfp4", 38},
      {"Q4_0", 2}, {"Q4_1", 3}, {"Q8_0", 7}, {"Q5_0", 8}, {"Q5_1", 9}};
  for (const auto& [n, v] : kTypes)
    if (name == n) return v;
  return std::nullopt;
}

Result<ArchMetadata> arch_metadata(Arch arch, const json& c, const std::string& where, const std::string& model_name,
                                   std::uint32_t file_type) {
  Reader rd{c, where};
  ArchMetadata m;
  const std::string a = arch_name(arch);
  QRUN_ASSIGN_OR_RETURN(const std::int64_t hidden, rd.integer("hidden_size"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t heads, rd.integer("num_attention_heads"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t kv_heads, rd.integer("num_key_value_heads", heads));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t layers, rd.integer("num_hidden_layers"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t ffn, rd.integer("intermediate_size"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t ctx_len, rd.integer("max_position_embeddings", 4096));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t vocab, rd.integer("vocab_size"));
  QRUN_ASSIGN_OR_RETURN(const std::int64_t head_dim, rd.integer("head_dim", hidden / heads));
  const json rope = rope_dict(arch, c);
  const double prf = rd.number(rope, "partial_rotary_factor").value_or(rd.number(c, "partial_rotary_factor").value_or(1.0));
  const auto rot_dim = static_cast<std::int64_t>(static_cast<double>(head_dim) * prf);

  put(m.kv, "general.architecture", std::string(a));
  put(m.kv, "general.type", std::string("model"));
  put(m.kv, "general.name", model_name);
  put(m.kv, "general.alignment", kDefaultAlignment);
  put(m.kv, "general.file_type", file_type);
  put(m.kv, "general.quantization_version", std::uint32_t{2});  // GGML_QNT_VERSION
  put_u32(m.kv, a + ".vocab_size", vocab);
  put_u32(m.kv, a + ".context_length", ctx_len);
  put_u32(m.kv, a + ".embedding_length", hidden);
  put_u32(m.kv, a + ".block_count", layers);
  put_u32(m.kv, a + ".feed_forward_length", ffn);
  put_u32(m.kv, a + ".attention.head_count", heads);
  put_u32(m.kv, a + ".attention.head_count_kv", kv_heads);
  put_f32(m.kv, a + ".attention.layer_norm_rms_epsilon", rd.number(c, "rms_norm_eps").value_or(1e-6));
  put_u32(m.kv, a + ".attention.key_length", head_dim);
  put_u32(m.kv, a + ".attention.value_length", head_dim);
  put_u32(m.kv, a + ".rope.dimension_count", rot_dim);
  QRUN_TRY(rope_keys(arch, rd, a, rot_dim, m));
  if (arch == Arch::phi3)
    if (auto o = rd.number(c, "original_max_position_embeddings"))
      put_u32(m.kv, a + ".rope.scaling.original_context_length", static_cast<std::int64_t>(*o));
  QRUN_TRY(attention_keys(arch, rd, a, head_dim, m));
  return m;
}

}  // namespace qrun::gguf
