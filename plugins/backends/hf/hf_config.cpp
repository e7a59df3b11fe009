// config.json parsing for Qwen2ForCausalLM and LlamaForCausalLM (field names and defaults from
// transformers' Qwen2Config / LlamaConfig).
#include "hf_config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <optional>

namespace qrun::hf {
namespace {

using nlohmann::json;

Result<json> read_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Error{file.string(), "cannot open", "check that the model folder contains this file"};
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    return Error{file.string(), std::string("invalid JSON (") + e.what() + ")", "re-download the file"};
  }
}

struct Reader {
  std::filesystem::path file;
  const json& j;

  Error bad(const std::string& key, const std::string& reason, const std::string& fix) const {
    return Error{file.string() + " " + key, reason, fix};
  }
  bool has(const std::string& key) const { return j.contains(key) && !j.at(key).is_null(); }

  // A positive integer field; `fallback` when absent (nullopt: required).
  Result<std::int64_t> positive(const std::string& key, std::optional<std::int64_t> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      return bad(key, "missing", "use a complete config.json from the checkpoint");
    }
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      return bad(key, "must be a positive integer, got " + v.dump(), "fix config.json");
    return v.get<std::int64_t>();
  }
  Result<double> number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number()) return bad(key, "must be a number, got " + v.dump(), "fix config.json");
    return v.get<double>();
  }
  Result<bool> boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_boolean()) return bad(key, "must be true or false, got " + v.dump(), "fix config.json");
    return v.get<bool>();
  }
};

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
  if (!ok) return Error{file.string() + " " + key, "must be a token id or a list of ids, got " + v.dump(), "fix the file"};
  return {};
}

// rope_scaling / rope_parameters: only the plain ("default") RoPE is implemented.
Result<void> check_rope_type(const Reader& r, const std::string& key) {
  if (!r.has(key)) return {};
  const json& v = r.j.at(key);
  if (!v.is_object()) return r.bad(key, "must be an object, got " + v.dump(), "fix config.json");
  std::string type = "default";
  for (const char* k : {"rope_type", "type"})
    if (v.contains(k) && v.at(k).is_string()) type = v.at(k).get<std::string>();
  if (type != "default")
    return r.bad(key, "RoPE scaling type '" + type + "' is not supported by qrun",
                 "use a checkpoint with default RoPE (no rope_scaling)");
  return {};
}

}  // namespace

Result<HfConfig> read_config(const std::filesystem::path& folder) {
  const auto file = folder / "config.json";
  auto parsed = read_json(file);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  if (!j.is_object()) return Error{file.string(), "is not a JSON object", "re-download the file"};
  Reader r{file, j};
  HfConfig out;
  ModelConfig& c = out.model;

  // Architecture.
  if (!r.has("architectures") || !j.at("architectures").is_array() || j.at("architectures").size() != 1 ||
      !j.at("architectures")[0].is_string())
    return r.bad("architectures", "must list exactly one architecture",
                 "qrun supports Qwen2ForCausalLM and LlamaForCausalLM checkpoints");
  c.architecture = j.at("architectures")[0].get<std::string>();
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";
  const bool llama = c.architecture == "LlamaForCausalLM";
  if (!qwen2 && !llama)
    return r.bad("architectures", "architecture '" + c.architecture + "' is not supported",
                 "use a Qwen2ForCausalLM or LlamaForCausalLM checkpoint");

  // Features qrun does not implement, refused by name.
  if (r.has("hidden_act") && j.at("hidden_act") != "silu")
    return r.bad("hidden_act", "activation " + j.at("hidden_act").dump() + " is not supported (only silu)",
                 "use a checkpoint with hidden_act \"silu\"");
  QRUN_TRY(check_rope_type(r, "rope_scaling"));
  QRUN_TRY(check_rope_type(r, "rope_parameters"));
  if (qwen2) {
    auto sliding = r.boolean("use_sliding_window", false);
    if (!sliding) return sliding.error();
    if (*sliding)
      return r.bad("use_sliding_window", "sliding-window attention is not supported",
                   "use a checkpoint with use_sliding_window false");
  }
  if (r.has("layer_types")) {
    for (const auto& t : j.at("layer_types"))
      if (t != "full_attention")
        return r.bad("layer_types", "layer type " + t.dump() + " is not supported (only full_attention)",
                     "use a checkpoint whose layers all use full attention");
  }
  if (llama) {
    auto mlp_bias = r.boolean("mlp_bias", false);
    if (!mlp_bias) return mlp_bias.error();
    if (*mlp_bias)
      return r.bad("mlp_bias", "MLP biases are not supported", "use a checkpoint with mlp_bias false");
  }

  // Sizes.
  auto set = [](std::int64_t& dst, Result<std::int64_t> v) -> Result<void> {
    if (!v) return v.error();
    dst = *v;
    return {};
  };
  QRUN_TRY(set(c.vocab_size, r.positive("vocab_size")));
  QRUN_TRY(set(c.hidden_size, r.positive("hidden_size")));
  QRUN_TRY(set(c.intermediate_size, r.positive("intermediate_size")));
  QRUN_TRY(set(c.num_hidden_layers, r.positive("num_hidden_layers")));
  QRUN_TRY(set(c.num_attention_heads, r.positive("num_attention_heads")));
  QRUN_TRY(set(c.num_key_value_heads, r.positive("num_key_value_heads", c.num_attention_heads)));
  QRUN_TRY(set(c.max_position_embeddings, r.positive("max_position_embeddings", 2048)));
  if (!r.has("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    return r.bad("hidden_size", "is not divisible by num_attention_heads", "fix config.json or give head_dim");
  QRUN_TRY(set(c.head_dim, r.positive("head_dim", c.hidden_size / c.num_attention_heads)));
  if (c.head_dim % 2 != 0) return r.bad("head_dim", "must be even for RoPE", "fix config.json");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return r.bad("num_key_value_heads", "must divide num_attention_heads", "fix config.json");

  // RoPE base: top-level rope_theta (transformers 4.x) or rope_parameters.rope_theta (5.x).
  double theta = 10000.0;
  if (r.has("rope_parameters") && j.at("rope_parameters").contains("rope_theta")) {
    const json& t = j.at("rope_parameters").at("rope_theta");
    if (!t.is_number()) return r.bad("rope_parameters.rope_theta", "must be a number", "fix config.json");
    theta = t.get<double>();
  }
  auto top_theta = r.number("rope_theta", theta);
  if (!top_theta) return top_theta.error();
  if (r.has("rope_theta") && r.has("rope_parameters") && j.at("rope_parameters").contains("rope_theta") &&
      *top_theta != theta)
    return r.bad("rope_theta", "disagrees with rope_parameters.rope_theta", "make the two values equal");
  c.rope_theta = *top_theta;
  if (!(c.rope_theta > 0)) return r.bad("rope_theta", "must be positive", "fix config.json");

  auto eps = r.number("rms_norm_eps", 1e-6);
  if (!eps) return eps.error();
  c.rms_norm_eps = *eps;
  if (!(c.rms_norm_eps > 0)) return r.bad("rms_norm_eps", "must be positive", "fix config.json");
  auto tie = r.boolean("tie_word_embeddings", false);  // Qwen2Config and LlamaConfig default: False
  if (!tie) return tie.error();
  c.tie_word_embeddings = *tie;
  if (qwen2) {
    c.attention_bias = true;  // Qwen2Attention: q/k/v Linear(bias=True), o_proj bias=False
  } else {
    auto bias = r.boolean("attention_bias", false);
    if (!bias) return bias.error();
    c.attention_bias = *bias;
  }

  // Token ids.
  if (r.has("bos_token_id")) {
    if (!j.at("bos_token_id").is_number_integer()) return r.bad("bos_token_id", "must be an integer", "fix config.json");
    c.bos_token_id = j.at("bos_token_id").get<std::int64_t>();
  }
  QRUN_TRY(add_token_ids(file, j, "eos_token_id", c.eos_token_ids));
  const auto gen_file = folder / "generation_config.json";
  if (std::filesystem::exists(gen_file)) {
    auto gen = read_json(gen_file);
    if (!gen) return gen.error();
    if (!gen->is_object()) return Error{gen_file.string(), "is not a JSON object", "re-download the file"};
    QRUN_TRY(add_token_ids(gen_file, *gen, "eos_token_id", c.eos_token_ids));
  }

  for (const char* key : {"torch_dtype", "dtype"}) {
    if (r.has(key) && j.at(key).is_string()) {
      out.torch_dtype = j.at(key).get<std::string>();
      break;
    }
  }
  return out;
}

}  // namespace qrun::hf
