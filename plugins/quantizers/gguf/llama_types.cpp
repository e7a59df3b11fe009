// llama.cpp's per-tensor type policy (ggml-org/llama.cpp src/llama-quant.cpp at commit 007dbbf3):
// tensor_type_fallback, llama_ftype_get_default_type, tensor_get_category and the rules of
// llama_tensor_get_type_impl for dense (non-MoE, non-Falcon) models and the mixes in Mix.
#include "llama_types.hpp"

#include <algorithm>
#include <regex>

namespace qrun::gguf {

std::optional<GgmlType> fallback_type(GgmlType target, std::int64_t ncols) {
  if (ncols % traits(target).block_size == 0) return target;
  GgmlType fallback;
  switch (target) {
    case GgmlType::iq1_s: case GgmlType::iq1_m: case GgmlType::iq2_xxs: case GgmlType::iq2_xs:
    case GgmlType::iq2_s: case GgmlType::iq3_xxs: case GgmlType::iq3_s: case GgmlType::iq4_xs:
      fallback = GgmlType::iq4_nl;
      break;
    case GgmlType::q2_0: case GgmlType::q2_K: case GgmlType::q3_K: case GgmlType::tq1_0: case GgmlType::tq2_0:
      fallback = GgmlType::q4_0;
      break;
    case GgmlType::q4_K: fallback = GgmlType::q5_0; break;
    case GgmlType::q5_K: fallback = GgmlType::q5_1; break;
    case GgmlType::q6_K: fallback = GgmlType::q8_0; break;
    default: return std::nullopt;
  }
  return ncols % traits(fallback).block_size == 0 ? fallback : GgmlType::f16;
}

namespace {

struct MixEntry { Mix mix; const char* name; GgmlType type; };
constexpr MixEntry kMixes[] = {
    {Mix::Q4_0, "Q4_0", GgmlType::q4_0},       {Mix::Q4_1, "Q4_1", GgmlType::q4_1},
    {Mix::Q5_0, "Q5_0", GgmlType::q5_0},       {Mix::Q5_1, "Q5_1", GgmlType::q5_1},
    {Mix::Q8_0, "Q8_0", GgmlType::q8_0},       {Mix::Q2_K, "Q2_K", GgmlType::q2_K},
    {Mix::Q2_K_S, "Q2_K_S", GgmlType::q2_K},   {Mix::Q3_K_S, "Q3_K_S", GgmlType::q3_K},
    {Mix::Q3_K_M, "Q3_K_M", GgmlType::q3_K},   {Mix::Q3_K_L, "Q3_K_L", GgmlType::q3_K},
    {Mix::Q4_K_S, "Q4_K_S", GgmlType::q4_K},   {Mix::Q4_K_M, "Q4_K_M", GgmlType::q4_K},
    {Mix::Q5_K_S, "Q5_K_S", GgmlType::q5_K},   {Mix::Q5_K_M, "Q5_K_M", GgmlType::q5_K},
    {Mix::Q6_K, "Q6_K", GgmlType::q6_K},       {Mix::IQ4_NL, "IQ4_NL", GgmlType::iq4_nl},
    {Mix::IQ4_XS, "IQ4_XS", GgmlType::iq4_xs},
};

const MixEntry& entry(Mix m) {
  return *std::find_if(std::begin(kMixes), std::end(kMixes), [m](const MixEntry& e) { return e.mix == m; });
}

enum class Category { token_embd, attn_q, attn_v, attn_k, attn_qkv, attn_kv_b, attn_output, ffn_up, ffn_gate, ffn_down, output, other };

// tensor_get_category
Category category_of(const std::string& n) {
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (n == "output.weight") return Category::output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::token_embd;
  if (has("attn_qkv.weight")) return Category::attn_qkv;
  if (has("attn_kv_b.weight")) return Category::attn_kv_b;
  if (has("attn_v.weight")) return Category::attn_v;
  if (has("attn_k.weight")) return Category::attn_k;
  if (has("attn_q.weight")) return Category::attn_q;
  if (has("attn_output.weight")) return Category::attn_output;
  if (has("ffn_up")) return Category::ffn_up;
  if (has("ffn_gate")) return Category::ffn_gate;
  if (has("ffn_down")) return Category::ffn_down;
  return Category::other;
}
bool is_attn_v_like(Category c) { return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b; }

// More bits for the first and last eighth of the layers and every third one between.
bool use_more_bits(std::int64_t i, std::int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct Counters { std::int64_t n_attention_wv = 0, i_attention_wv = 0, i_ffn_down = 0; bool tied = true; };

GgmlType attn_v_type(Mix m, GgmlType t, const MixModel& mm, Counters& c) {
  const std::int64_t n_gqa = mm.n_head_kv > 0 ? mm.n_head / mm.n_head_kv : 0;
  if (m == Mix::Q2_K) t = n_gqa >= 4 ? GgmlType::q4_K : GgmlType::q3_K;
  else if (m == Mix::Q2_K_S && n_gqa >= 4) t = GgmlType::q4_K;
  else if (m == Mix::Q3_K_M) t = c.i_attention_wv < 2 ? GgmlType::q5_K : GgmlType::q4_K;
  else if (m == Mix::Q3_K_L) t = GgmlType::q5_K;
  else if ((m == Mix::IQ4_NL || m == Mix::IQ4_XS) && n_gqa >= 4) t = GgmlType::q5_K;
  else if ((m == Mix::Q4_K_M || m == Mix::Q5_K_M) && use_more_bits(c.i_attention_wv, c.n_attention_wv)) t = GgmlType::q6_K;
  else if (m == Mix::Q4_K_S && c.i_attention_wv < 4) t = GgmlType::q5_K;
  if (mm.llama_70b && (t == GgmlType::q3_K || t == GgmlType::q4_K)) t = GgmlType::q5_K;
  ++c.i_attention_wv;
  return t;
}

GgmlType ffn_down_type(Mix m, GgmlType t, const MixModel& mm, Counters& c) {
  const std::int64_t i = c.i_ffn_down, n = mm.n_layer;  // the visit counter stands for the layer
  if (m == Mix::Q2_K) t = GgmlType::q3_K;
  else if (m == Mix::Q2_K_S) { if (i < n / 8) t = GgmlType::q4_K; }
  else if (m == Mix::Q3_K_M) t = i < n / 16 ? GgmlType::q5_K : GgmlType::q4_K;
  else if (m == Mix::Q3_K_L) t = GgmlType::q5_K;
  else if (m == Mix::Q4_K_M) { if (use_more_bits(i, n)) t = GgmlType::q6_K; }
  else if (i < n / 8 && (m == Mix::IQ4_NL || m == Mix::IQ4_XS) && !mm.has_imatrix) t = GgmlType::q5_K;
  else if (m == Mix::Q5_K_M && use_more_bits(i, n)) t = GgmlType::q6_K;
  else if (m == Mix::Q4_K_S && i < n / 8) t = GgmlType::q5_K;
  else if ((m == Mix::Q4_0 || m == Mix::Q5_0) && mm.has_imatrix && i < n / 8) t = m == Mix::Q4_0 ? GgmlType::q4_1 : GgmlType::q5_1;
  ++c.i_ffn_down;
  return t;
}

// llama_tensor_get_type_impl for one tensor (dense, non-Falcon model; mixes of Mix only).
GgmlType tensor_type(Mix m, const MixTensor& tensor, Category cat, const MixModel& mm, Counters& c) {
  GgmlType t = mix_default_type(m);
  if (cat == Category::output || (c.tied && cat == Category::token_embd)) {
    if (tensor.ncols % traits(t).block_size != 0) return GgmlType::q8_0;
    return t != GgmlType::q8_0 ? GgmlType::q6_K : t;
  }
  if (cat == Category::token_embd) return t;  // its own rules concern IQ1-IQ3 and ternary mixes only
  if (is_attn_v_like(cat)) return attn_v_type(m, t, mm, c);
  if (cat == Category::ffn_down) return ffn_down_type(m, t, mm, c);
  if (cat == Category::attn_output) {
    if (m == Mix::Q2_K) return GgmlType::q3_K;
    if (m == Mix::Q3_K_M) return GgmlType::q4_K;
    if (m == Mix::Q3_K_L) return GgmlType::q5_K;
  }
  // attn_q, attn_k, ffn_gate, ffn_up: rules only for IQ3 mixes and 8-expert models.
  return t;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<Mix> parse_mix(std::string_view name) {
  for (const MixEntry& e : kMixes)
    if (iequals(name, e.name)) return e.mix;
  return std::nullopt;
}
const char* mix_name(Mix m) { return entry(m).name; }
GgmlType mix_default_type(Mix m) { return entry(m).type; }
bool mix_requires_imatrix(Mix m) { return m == Mix::Q2_K_S; }
std::vector<std::string> mix_names() {
  std::vector<std::string> out;
  for (const MixEntry& e : kMixes) out.emplace_back(e.name);
  return out;
}

std::map<std::string, std::optional<GgmlType>> mix_types(Mix mix, const MixModel& model, const std::vector<MixTensor>& tensors) {
  std::vector<MixTensor> sorted = tensors;  // llama-quantize visits its std::map<std::string, ...> in key order
  std::sort(sorted.begin(), sorted.end(), [](const MixTensor& a, const MixTensor& b) { return a.name < b.name; });
  Counters c;
  for (const MixTensor& t : sorted) {
    const Category cat = category_of(t.name);
    if (is_attn_v_like(cat)) ++c.n_attention_wv;
    if (cat == Category::output) c.tied = false;
  }
  std::map<std::string, std::optional<GgmlType>> out;
  for (const MixTensor& t : sorted) out[t.name] = fallback_type(tensor_type(mix, t, category_of(t.name), model, c), t.ncols);
  return out;
}

std::string llama_tensor_name(const std::string& hf_name) {
  static const std::vector<std::pair<std::string, std::string>> projections = {
      {"self_attn.q_proj", "attn_q"},     {"self_attn.k_proj", "attn_k"},    {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"}, {"self_attn.qkv_proj", "attn_qkv"}, {"mlp.gate_proj", "ffn_gate"},
      {"mlp.up_proj", "ffn_up"},          {"mlp.down_proj", "ffn_down"},     {"mlp.gate_up_proj", "ffn_up"}};
  std::string name = hf_name;
  if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) name.resize(name.size() - 7);
  if (name == "lm_head") return "output.weight";
  if (name == "model.embed_tokens") return "token_embd.weight";
  static const std::regex layer(R"(^model\.layers\.(\d+)\.(.+)$)");
  std::smatch m;
  if (std::regex_match(name, m, layer)) {
    for (const auto& [hf, llama] : projections)
      if (m[2] == hf) return "blk." + m[1].str() + "." + llama + ".weight";
  }
  return hf_name;
}

}  // namespace qrun::gguf
