// config.json -> RopeSpec (see rope_config.hpp). Defaults and precedence follow transformers 5's
// RotaryEmbeddingConfigMixin: a value inside the RoPE dict wins over the top-level one;
// original_max_position_embeddings comes from the top level when the config has one there (Phi-3),
// else from the dict, else max_position_embeddings; Phi3Config maps `type` "su"/"yarn" to
// "longrope"; Gemma3TextConfig builds {full_attention: rope_scaling + rope_theta,
// sliding_attention: default RoPE at rope_local_base_freq} from the transformers-4 keys.
#include "rope_config.hpp"

#include <set>

namespace qrun::hf {
namespace {

using nlohmann::json;

const std::set<std::string> kRopeKeys = {"rope_type", "type", "rope_theta", "partial_rotary_factor", "factor",
                                         "original_max_position_embeddings", "low_freq_factor", "high_freq_factor",
                                         "attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                                         "truncate", "short_factor", "long_factor"};
const std::set<std::string> kRopeTypes = {"default", "linear", "dynamic", "yarn", "llama3", "longrope"};
const char* kTypesFix = "use a checkpoint whose RoPE is default, linear, dynamic, yarn, llama3 or longrope";

struct DictContext {
  const JsonReader& top;
  Family family;
  std::int64_t max_pos, head_dim;
  double theta_default;
  std::optional<double> prf_default;
  bool top_level_original;  // the top-level original_max_position_embeddings takes precedence
};

Result<std::string> rope_type(const JsonReader& r, Family family) {
  auto type = r.string("type", "default");
  if (!type) return type.error();
  // Phi3Config._rope_scaling_adjustment: "su" and "yarn" under `type` were LongRoPE.
  if (family == Family::kPhi3 && (*type == "su" || *type == "yarn")) *type = "longrope";
  auto out = r.string("rope_type", *type);  // setdefault("rope_type", get("type", "default"))
  if (!out) return out.error();
  if (!kRopeTypes.count(*out))
    return r.bad(r.has("rope_type") ? "rope_type" : "type", "RoPE type '" + *out + "' is not implemented by qrun",
                 kTypesFix, ErrorCode::unsupported);
  return *out;
}

Result<std::vector<double>> factor_list(const JsonReader& r, const std::string& key, std::size_t size) {
  if (!r.has(key)) return r.bad(key, "missing (longrope needs it)", "use a complete config.json from the checkpoint");
  const json& v = r.j.at(key);
  std::vector<double> out;
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_number()) out.push_back(x.get<double>());
  if (!v.is_array() || out.size() != v.size() || out.size() != size)
    return r.bad(key, "must be a list of " + std::to_string(size) + " numbers (rotary dimensions / 2)", "fix config.json");
  return out;
}

// The type-specific fields of one flat RoPE dict.
Result<void> read_type_fields(const JsonReader& r, const DictContext& c, RopeSpec& s) {
  auto num = [&](const std::string& key, std::optional<double>& dst) -> Result<void> {
    auto v = r.optional_number(key);
    if (!v) return v.error();
    dst = *v;
    return {};
  };
  if (s.type == "default") return {};
  QRUN_TRY(num("factor", s.factor));
  const bool factor_required = s.type == "linear" || s.type == "dynamic" || s.type == "llama3" ||
                               (s.type == "yarn" && !r.j.contains("factor"));  // yarn: null means derived
  if (factor_required && !s.factor)
    return r.bad("factor", "missing (RoPE type " + s.type + " needs it)", "use a complete config.json from the checkpoint");
  if (s.factor && !(*s.factor > 0)) return r.bad("factor", "must be positive", "fix config.json");
  if (s.type == "linear" || s.type == "dynamic") return {};
  // llama3, yarn, longrope: the pretraining context length.
  auto orig = r.positive("original_max_position_embeddings", c.max_pos);
  if (!orig) return orig.error();
  s.original_max_position_embeddings = *orig;
  if (c.top_level_original && c.top.has("original_max_position_embeddings")) {
    auto top = c.top.positive("original_max_position_embeddings");
    if (!top) return top.error();
    s.original_max_position_embeddings = *top;
  }
  if (s.type == "llama3") {
    std::optional<double> low, high;
    QRUN_TRY(num("low_freq_factor", low));
    QRUN_TRY(num("high_freq_factor", high));
    if (!low || !high)
      return r.bad(low ? "high_freq_factor" : "low_freq_factor", "missing (RoPE type llama3 needs it)",
                   "use a complete config.json from the checkpoint");
    if (!(*high > *low) || !(*low > 0))
      return r.bad("high_freq_factor", "must exceed low_freq_factor (> 0)", "fix config.json");
    s.low_freq_factor = *low;
    s.high_freq_factor = *high;
    return {};
  }
  QRUN_TRY(num("attention_factor", s.attention_factor));
  if (s.type == "yarn") {
    QRUN_TRY(num("beta_fast", s.beta_fast));
    QRUN_TRY(num("beta_slow", s.beta_slow));
    QRUN_TRY(num("mscale", s.mscale));
    QRUN_TRY(num("mscale_all_dim", s.mscale_all_dim));
    auto truncate = r.boolean("truncate", true);
    if (!truncate) return truncate.error();
    s.truncate = *truncate;
    return {};
  }
  const auto half = static_cast<std::size_t>(static_cast<double>(c.head_dim) * s.partial_rotary_factor) / 2;
  auto short_factor = factor_list(r, "short_factor", half);
  if (!short_factor) return short_factor.error();
  auto long_factor = factor_list(r, "long_factor", half);
  if (!long_factor) return long_factor.error();
  s.short_factor = std::move(*short_factor);
  s.long_factor = std::move(*long_factor);
  return {};
}

Result<RopeSpec> read_dict(const JsonReader& r, const DictContext& c) {
  if (!r.j.is_object()) return Error{r.file.string() + " " + r.prefix, "must be an object", "fix config.json", ErrorCode::corrupt_input};
  for (const auto& [key, _] : r.j.items())
    if (!kRopeKeys.count(key))
      return r.bad(key, "is not a RoPE parameter qrun implements", "use a checkpoint without it (" + std::string(kTypesFix) + ")",
                   ErrorCode::unsupported);
  RopeSpec s;
  auto type = rope_type(r, c.family);
  if (!type) return type.error();
  s.type = *type;
  auto theta = r.optional_number("rope_theta");
  if (!theta) return theta.error();
  auto top_theta = c.top.optional_number("rope_theta");
  if (!top_theta) return top_theta.error();
  // A flat dict's rope_theta and a top-level one must agree (nested dicts have their own).
  if (*theta && *top_theta && **theta != **top_theta && c.top_level_original)
    return c.top.bad("rope_theta", "disagrees with " + r.prefix + "rope_theta", "make the two values equal");
  s.theta = theta->value_or(c.theta_default);
  if (!(s.theta > 0)) return r.bad("rope_theta", "must be positive", "fix config.json");
  auto prf = r.optional_number("partial_rotary_factor");
  if (!prf) return prf.error();
  s.partial_rotary_factor = prf->value_or(c.prf_default.value_or(1.0));
  if (!(s.partial_rotary_factor > 0 && s.partial_rotary_factor <= 1))
    return r.bad("partial_rotary_factor", "must be in (0, 1]", "fix config.json");
  QRUN_TRY(read_type_fields(r, c, s));
  return s;
}

}  // namespace

Result<RopeConfig> read_rope(const JsonReader& top, Family family, std::int64_t max_position_embeddings,
                             std::int64_t head_dim) {
  auto theta = top.optional_number("rope_theta");
  if (!theta) return theta.error();
  auto prf = top.optional_number("partial_rotary_factor");
  if (!prf) return prf.error();
  DictContext c{top, family, max_position_embeddings, head_dim,
                theta->value_or(family == Family::kGemma3 ? 1e6 : 10000.0), *prf, true};
  const bool has_scaling = top.has("rope_scaling"), has_params = top.has("rope_parameters");
  if (has_scaling && has_params && top.j.at("rope_scaling") != top.j.at("rope_parameters"))
    return top.bad("rope_scaling", "and rope_parameters are both given and differ", "keep one of them");
  static const nlohmann::json kNone = nlohmann::json::object();
  const std::string key = has_scaling ? "rope_scaling" : "rope_parameters";
  const JsonReader dict = has_scaling || has_params ? top.child(key) : JsonReader{top.file, kNone, key + "."};
  if (!dict.j.is_object()) return top.bad(key, "must be an object, got " + dict.j.dump(), "fix config.json");

  bool nested = !dict.j.empty();
  for (const auto& [k, _] : dict.j.items()) nested = nested && (k == "full_attention" || k == "sliding_attention");
  RopeConfig out;
  if (nested) {
    if (family != Family::kGemma3)
      return top.bad(key, "gives RoPE parameters per layer type, which qrun reads for Gemma3ForCausalLM only",
                     "use one RoPE dict for all layers", ErrorCode::unsupported);
    for (const char* k : {"full_attention", "sliding_attention"})
      if (!dict.has(k)) return dict.bad(k, "missing", "give the RoPE of both layer types");
    c.top_level_original = false;
    auto full = read_dict(dict.child("full_attention"), c);
    if (!full) return full.error();
    auto sliding = read_dict(dict.child("sliding_attention"), c);
    if (!sliding) return sliding.error();
    auto local = top.optional_number("rope_local_base_freq");
    if (!local) return local.error();
    if (*local && **local != sliding->theta)
      return top.bad("rope_local_base_freq", "disagrees with " + key + ".sliding_attention.rope_theta",
                     "make the two values equal");
    out.full = *full;
    out.sliding = *sliding;
    return out;
  }
  auto full = read_dict(dict, c);
  if (!full) return full.error();
  out.full = *full;
  if (family == Family::kGemma3) {
    RopeSpec local;  // Gemma 3's sliding layers: default RoPE at rope_local_base_freq (default 10000)
    auto base = top.number("rope_local_base_freq", 10000.0);
    if (!base) return base.error();
    if (!(*base > 0)) return top.bad("rope_local_base_freq", "must be positive", "fix config.json");
    local.theta = *base;
    out.sliding = local;
  }
  return out;
}

}  // namespace qrun::hf
