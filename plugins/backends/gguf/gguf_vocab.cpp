// tokenizer.json + tokenizer_config.json from a GGUF file's tokenizer.ggml.* keys, so qrun's
// tokenizer loader builds the same tokenizer the model's tokenizer.json would (the inverse of
// plugins/quantizers/gguf/gguf_export_vocab.cpp; token types as llama.cpp's llama_token_type).
//   gpt2   byte-level BPE: NORMAL tokens form the vocabulary, CONTROL / USER_DEFINED tokens are
//          added tokens (special / not), UNUSED ones ("[PAD<id>]") are dropped; the merges; the
//          normalizer and pre-tokenizer that tokenizer.ggml.pre names (llama.cpp's llama-vocab.cpp
//          regexes, as Hugging Face writes them for that model).
//   llama  SentencePiece-style BPE with byte fallback: every non-UNUSED, non-USER_DEFINED token in
//          the vocabulary; merges from tokenizer.ggml.merges, else derived from the scores as
//          transformers' SentencePieceExtractor does (every split of a piece into two vocabulary
//          pieces, pieces by score, highest first); "▁" for spaces, prefixed unless
//          tokenizer.ggml.add_space_prefix is false.
#include "gguf_model.hpp"

#include <algorithm>
#include <map>

namespace qrun::gguf_backend {
namespace {

using nlohmann::json;
using gguf::GgufFile;

enum TokenType : std::int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

Error bad(const GgufFile& f, const std::string& key, const std::string& reason) {
  return Error::of(ErrorCode::corrupt_input, f.path().string() + " key '" + key + "'", reason,
                   "use a GGUF file with llama.cpp's tokenizer metadata");
}

std::optional<std::int64_t> id_key(const GgufFile& f, const char* key) {
  const gguf::Value* v = f.find(std::string("tokenizer.ggml.") + key);
  if (!v) return std::nullopt;
  if (auto x = v->as<std::uint32_t>()) return *x;
  if (auto x = v->as<std::int32_t>()) return *x;
  return std::nullopt;
}

std::optional<bool> bool_key(const GgufFile& f, const std::string& key) {
  const gguf::Value* v = f.find(key);
  return v ? v->as<bool>() : std::nullopt;
}

struct Pre {
  const char* name;
  json normalizer, pre_tokenizer;
  bool ignore_merges;
};

json split_then_bytes(const char* regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
}

std::optional<Pre> pre_for(const std::string& name) {
  if (name == "qwen2")
    return Pre{"qwen2", {{"type", "NFC"}},
               split_then_bytes("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
               false};
  if (name == "llama-bpe" || name == "llama3")
    return Pre{"llama-bpe", json(),
               split_then_bytes("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
               true};
  if (name == "gpt-2" || name == "default")
    return Pre{"gpt-2", json(), {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}, false};
  return std::nullopt;
}

// The UTF-8 code points of s, as separate strings.
std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// transformers' SentencePieceExtractor.extract for a vocabulary with scores.
std::vector<std::string> merges_from_scores(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                                            const std::vector<std::int32_t>& types) {
  std::map<std::string, std::int64_t> vocab;
  for (std::size_t i = 0; i < tokens.size(); ++i) vocab.emplace(tokens[i], static_cast<std::int64_t>(i));
  struct M { std::string l, r; float score; std::int64_t il, ir; };
  std::vector<M> all;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] != kNormal) continue;
    const auto cs = chars(tokens[i]);
    std::vector<M> local;
    std::string left;
    for (std::size_t k = 1; k < cs.size(); ++k) {
      left += cs[k - 1];
      const std::string right = tokens[i].substr(left.size());
      auto a = vocab.find(left), b = vocab.find(right);
      if (a != vocab.end() && b != vocab.end()) local.push_back({left, right, scores[i], a->second, b->second});
    }
    std::sort(local.begin(), local.end(), [](const M& x, const M& y) { return std::tie(x.il, x.ir) < std::tie(y.il, y.ir); });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const M& x, const M& y) { return x.score > y.score; });
  std::vector<std::string> out;
  for (const M& m : all) out.push_back(m.l + " " + m.r);
  return out;
}

json added_token(std::int64_t id, const std::string& content, bool special) {
  return {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
          {"normalized", false}, {"special", special}};
}

json post_processor(bool add_bos, const std::optional<std::string>& bos, std::optional<std::int64_t> bos_id, bool byte_level) {
  if (add_bos && bos && bos_id) {
    const json tok = {{"SpecialToken", {{"id", *bos}, {"type_id", 0}}}};
    return {{"type", "TemplateProcessing"},
            {"single", {tok, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", {tok, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"SpecialToken", {{"id", *bos}, {"type_id", 1}}}},
                      {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{*bos, {{"id", *bos}, {"ids", {*bos_id}}, {"tokens", {*bos}}}}}}};
  }
  if (byte_level) return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return json();
}

// The SentencePiece-style parts of tokenizer.json (as Hugging Face writes Llama 2's).
void spm_parts(const GgufFile& f, json& j, const json& vocab, const std::vector<std::string>& merges, json post,
               const std::optional<std::string>& unk) {
  const bool prefix = bool_key(f, "tokenizer.ggml.add_space_prefix").value_or(true);
  json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}};
  j["normalizer"] = prefix ? json{{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}}, replace}}}
                           : replace;
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = std::move(post);
  json decoders = {{{"type", "Replace"}, {"pattern", {{"String", "\xe2\x96\x81"}}}, {"content", " "}},
                   {{"type", "ByteFallback"}}, {{"type", "Fuse"}}};
  if (prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk ? json(*unk) : json()},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", true},
                {"byte_fallback", true}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}};
}

// The byte-level BPE parts of tokenizer.json, the pre-tokenizer named by tokenizer.ggml.pre.
Result<void> gpt2_parts(const GgufFile& f, json& j, const json& vocab, const std::vector<std::string>& merges, json post) {
  const gguf::Value* pv = f.find("tokenizer.ggml.pre");
  const std::string pre_name = pv && pv->as<std::string>() ? *pv->as<std::string>() : "default";
  const auto pre = pre_for(pre_name);
  if (!pre)
    return Error::of(ErrorCode::unsupported, f.path().string() + " key 'tokenizer.ggml.pre'",
                     "pre-tokenizer '" + pre_name + "' is not one qrun reads (qwen2, llama-bpe, gpt-2)",
                     "use a file whose tokenizer qrun supports, or the original Hugging Face folder");
  j["normalizer"] = pre->normalizer;
  j["pre_tokenizer"] = pre->pre_tokenizer;
  j["post_processor"] = std::move(post);
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false},
                {"ignore_merges", pre->ignore_merges}, {"vocab", vocab}, {"merges", merges}};
  return {};
}

}  // namespace

Result<TokenizerFiles> tokenizer_from_gguf(const GgufFile& f) {
  const gguf::Value* model_v = f.find("tokenizer.ggml.model");
  const auto model = model_v ? model_v->as<std::string>() : std::nullopt;
  if (!model) return bad(f, "tokenizer.ggml.model", model_v ? "is not a string" : "missing (the file has no tokenizer)");
  if (*model != "gpt2" && *model != "llama")
    return Error::of(ErrorCode::unsupported, f.path().string() + " key 'tokenizer.ggml.model'",
                     "tokenizer '" + *model + "' is not one qrun reads", "use a file with a gpt2 (byte-level BPE) or llama (SentencePiece) tokenizer");
  const bool spm = *model == "llama";
  const gguf::Value* tv = f.find("tokenizer.ggml.tokens");
  const auto tokens = tv ? tv->as_array<std::string>() : std::nullopt;
  if (!tokens || tokens->empty()) return bad(f, "tokenizer.ggml.tokens", "missing or not an array of strings");
  std::vector<std::int32_t> types(tokens->size(), kNormal);
  if (const gguf::Value* ty = f.find("tokenizer.ggml.token_type")) {
    auto t = ty->as_array<std::int32_t>();
    if (!t || t->size() != tokens->size()) return bad(f, "tokenizer.ggml.token_type", "is not an int32 array as long as the tokens");
    types = *t;
  }
  std::vector<std::string> merges;
  if (const gguf::Value* mv = f.find("tokenizer.ggml.merges")) {
    auto m = mv->as_array<std::string>();
    if (!m) return bad(f, "tokenizer.ggml.merges", "is not an array of strings");
    merges = *m;
  }
  if (merges.empty() && spm) {
    const gguf::Value* sv = f.find("tokenizer.ggml.scores");
    auto scores = sv ? sv->as_array<float>() : std::nullopt;
    if (!scores || scores->size() != tokens->size()) return bad(f, "tokenizer.ggml.scores", "missing or not a float array as long as the tokens");
    merges = merges_from_scores(*tokens, *scores, types);
  }
  if (merges.empty() && !spm) return bad(f, "tokenizer.ggml.merges", "missing (a gpt2 tokenizer needs its merges)");

  json vocab = json::object(), added = json::array();
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    const auto id = static_cast<std::int64_t>(i);
    const std::int32_t t = types[i];
    if (t == kUnused) continue;
    const bool is_added = t == kControl || t == kUserDefined || t == kUnknown;
    if (is_added) added.push_back(added_token(id, (*tokens)[i], t != kUserDefined));
    if (!is_added || (spm && t != kUserDefined)) vocab[(*tokens)[i]] = id;
  }
  auto token_of = [&](std::optional<std::int64_t> id) -> std::optional<std::string> {
    if (!id || *id < 0 || *id >= static_cast<std::int64_t>(tokens->size())) return std::nullopt;
    return (*tokens)[static_cast<std::size_t>(*id)];
  };
  const auto bos_id = id_key(f, "bos_token_id"), eos_id = id_key(f, "eos_token_id");
  const auto bos = token_of(bos_id), eos = token_of(eos_id), unk = token_of(id_key(f, "unknown_token_id"));
  const auto pad = token_of(id_key(f, "padding_token_id"));
  const bool add_bos = bool_key(f, "tokenizer.ggml.add_bos_token").value_or(spm);
  const bool add_eos = bool_key(f, "tokenizer.ggml.add_eos_token").value_or(false);

  TokenizerFiles out;
  json& j = out.tokenizer;
  j = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added}};
  if (spm) {
    spm_parts(f, j, vocab, merges, post_processor(add_bos, bos, bos_id, false), unk);
  } else {
    QRUN_TRY(gpt2_parts(f, j, vocab, merges, post_processor(add_bos, bos, bos_id, true)));
  }
  json& tc = out.tokenizer_config;
  tc = {{"add_bos_token", add_bos}, {"add_eos_token", add_eos}, {"clean_up_tokenization_spaces", false}};
  tc["bos_token"] = bos ? json(*bos) : json();
  tc["eos_token"] = eos ? json(*eos) : json();
  if (unk) tc["unk_token"] = *unk;
  tc["pad_token"] = pad ? json(*pad) : json();
  if (const gguf::Value* ct = f.find("tokenizer.chat_template"))
    if (auto s = ct->as<std::string>()) tc["chat_template"] = *s;
  return out;
}

}  // namespace qrun::gguf_backend
