// tokenizer.ggml.* of a GGUF export from tokenizer.json, as llama.cpp's convert_hf_to_gguf.py
// writes them (TextModel.get_vocab_base / _set_vocab_gpt2 for byte-level BPE, _set_vocab_llama_hf
// for SentencePiece-style BPE with byte fallback; gguf-py/gguf/vocab.py SpecialVocab for the
// special ids, add_*_token flags, merges and chat template).
//   gpt2   tokens as in the vocabulary (padded with "[PAD<id>]", UNUSED, up to the embedding rows),
//          token_type NORMAL / CONTROL (special or looks special) / USER_DEFINED, merges,
//          tokenizer.ggml.pre named after the pre-tokenizer's regex (the converter hashes the
//          tokenization of a test text instead; the regex is what that hash identifies).
//   llama  tokens, token_type (BYTE for <0xXX>, CONTROL for special tokens), scores. The converter
//          writes -1000 for every score, with which llama.cpp's SentencePiece tokenizer merges
//          left to right instead of in merge order; qrun writes -(rank of the merge producing the
//          token) (tokens no merge produces: below every merge), so llama.cpp's highest-score-first
//          merging follows tokenizer.json's merges, and it adds the merges (llama.cpp ignores them
//          for this model type; qrun's GGUF reader uses them).
#include "gguf_export.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <set>

namespace qrun::gguf {
namespace {

using nlohmann::json;

// llama_token_type (llama.cpp include/llama.h; gguf-py TokenType)
enum TokenType : std::int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

Result<json> read_json(const std::filesystem::path& f, bool required) {
  std::ifstream in(f, std::ios::binary);
  if (!in) {
    if (!required) return json();
    return Error::of(ErrorCode::not_found, f.string(), "cannot be read", "export a model folder that has it");
  }
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error::of(ErrorCode::corrupt_input, f.string(), "is not a JSON object", "fix the file");
  return j;
}

// The pre-tokenizer regexes llama.cpp knows (src/llama-vocab.cpp, by tokenizer.ggml.pre).
const std::pair<const char*, const char*> kPreRegex[] = {
    {"qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

// tokenizer.ggml.pre for a byte-level BPE tokenizer.json.
Result<std::string> pre_name(const json& tok, const std::string& where) {
  const json& pre = tok.value("pre_tokenizer", json());
  if (pre.is_object() && pre.value("type", "") == "ByteLevel" && pre.value("use_regex", true)) return std::string("gpt-2");
  if (pre.is_object() && pre.value("type", "") == "Sequence")
    for (const json& p : pre.value("pretokenizers", json::array()))
      if (p.value("type", "") == "Split" && p.contains("pattern") && p.at("pattern").contains("Regex"))
        for (const auto& [name, regex] : kPreRegex)
          if (p.at("pattern").at("Regex") == regex) return std::string(name);
  return Error::of(ErrorCode::unsupported, where + " pre_tokenizer",
                   "is not one qrun maps to a llama.cpp pre-tokenizer name (qwen2, llama-bpe, gpt-2)",
                   "export a model with a Qwen2, Llama 3 or GPT-2 byte-level tokenizer, or a SentencePiece-style one");
}

bool looks_special(const std::string& t) {  // TextModel.does_token_look_special
  auto ends = [&](const std::string& a, const std::string& b) {
    return t.size() >= a.size() + b.size() && t.compare(0, a.size(), a) == 0 && t.compare(t.size() - b.size(), b.size(), b) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || ends("<|", "|>") ||
         ends("<\xef\xbd\x9c", "\xef\xbd\x9c>") || ends("<start_of_", ">");
}

std::vector<std::string> merges_of(const json& model) {
  std::vector<std::string> out;
  for (const json& m : model.value("merges", json::array())) {
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2) {  // [a, b]; spaces written as U+0120 as SpecialVocab does
      auto enc = [](std::string s) {
        std::string r;
        for (char ch : s) r += ch == ' ' ? std::string("\xc4\xa0") : std::string(1, ch);
        return r;
      };
      out.push_back(enc(m[0].get<std::string>()) + " " + enc(m[1].get<std::string>()));
    }
  }
  return out;
}

// SpecialVocab: ids of bos/eos/unk/sep/pad from tokenizer_config.json's *_token (matched against
// added_tokens), then config.json's *_token_id; add_*_token flags from tokenizer_config.json and
// the TemplateProcessing post-processor.
void special_tokens(const json& tok, const json& tcfg, const json& cfg, std::int64_t n_vocab, std::vector<KeyValue>& kv) {
  static const std::pair<const char*, const char*> kKeys[] = {{"bos", "bos_token_id"},      {"eos", "eos_token_id"},
                                                              {"unk", "unknown_token_id"},  {"sep", "seperator_token_id"},
                                                              {"pad", "padding_token_id"}};
  std::map<std::string, std::int64_t> ids;
  std::map<std::string, bool> add;
  const json post = tok.value("post_processor", json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing") {
    const json single = post.value("single", json::array());
    if (single.size() > 1 && single[0].contains("SpecialToken")) add["bos"] = true;
  }
  for (const auto& [typ, key] : kKeys) {
    if (tcfg.is_object()) {
      const std::string add_key = std::string("add_") + typ + "_token";
      if (tcfg.contains(add_key) && tcfg.at(add_key).is_boolean()) add[typ] = tcfg.at(add_key).get<bool>();
      const json e = tcfg.value(std::string(typ) + "_token", json());
      const std::string content = e.is_string() ? e.get<std::string>() : e.is_object() ? e.value("content", "") : "";
      if (!content.empty())
        for (const json& t : tok.value("added_tokens", json::array()))
          if (t.value("content", "") == content) {
            ids.emplace(typ, t.value("id", std::int64_t{-1}));
            break;
          }
    }
    const json id = cfg.value(std::string(typ) + "_token_id", json());
    if (!ids.count(typ) && id.is_number_integer()) ids.emplace(typ, id.get<std::int64_t>());
  }
  for (const auto& [typ, key] : kKeys) {
    auto it = ids.find(typ);
    if (it != ids.end() && it->second >= 0 && it->second < n_vocab)
      kv.push_back({std::string("tokenizer.ggml.") + key, Value::of(static_cast<std::uint32_t>(it->second))});
  }
  for (const char* typ : {"bos", "eos", "sep"})
    if (add.count(typ)) kv.push_back({std::string("tokenizer.ggml.add_") + typ + "_token", Value::of(add[typ])});
}

// TextModel.get_vocab_base: every id below the embedding rows, "[PAD<id>]" (UNUSED) where the
// tokenizer has none, added tokens CONTROL (special or looking special) or USER_DEFINED. Returns the count.
std::int64_t token_list(const json& tok, const json& model, bool spm, std::int64_t n_vocab, std::vector<std::string>& tokens,
                        std::vector<std::int32_t>& types) {
  std::map<std::int64_t, std::string> by_id;
  for (const auto& [text, id] : model.at("vocab").items())
    if (id.is_number_integer()) by_id[id.get<std::int64_t>()] = text;
  std::map<std::int64_t, const json*> added;
  const json added_list = tok.value("added_tokens", json::array());
  for (const json& t : added_list) {
    const auto id = t.value("id", std::int64_t{-1});
    if (id < 0) continue;
    added[id] = &t;
    by_id[id] = t.value("content", "");
  }
  const std::int64_t size = std::max<std::int64_t>(n_vocab, by_id.empty() ? 0 : by_id.rbegin()->first + 1);
  for (std::int64_t i = 0; i < size; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.push_back(kUnused);
      continue;
    }
    std::string text = it->second;
    std::int32_t type = kNormal;
    if (auto a = added.find(i); a != added.end()) {
      type = (a->second->value("special", false) || looks_special(text)) ? kControl : kUserDefined;
      if (spm && type == kUserDefined) {  // pre-normalize user-defined spaces (U+2581 -> ' ')
        for (std::size_t p; (p = text.find("\xe2\x96\x81")) != std::string::npos;) text.replace(p, 3, " ");
      }
    } else if (spm && text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
      type = kByte;
    }
    tokens.push_back(std::move(text));
    types.push_back(type);
  }
  return size;
}

}  // namespace

Result<std::vector<KeyValue>> tokenizer_metadata(const std::filesystem::path& folder, std::int64_t n_vocab) {
  const std::string tfile = (folder / "tokenizer.json").string();
  QRUN_ASSIGN_OR_RETURN(const json tok, read_json(folder / "tokenizer.json", true));
  QRUN_ASSIGN_OR_RETURN(const json tcfg, read_json(folder / "tokenizer_config.json", false));
  QRUN_ASSIGN_OR_RETURN(const json cfg, read_json(folder / "config.json", false));
  const json model = tok.value("model", json());
  if (!model.is_object() || model.value("type", "") != "BPE" || !model.contains("vocab") || !model.at("vocab").is_object())
    return Error::of(ErrorCode::unsupported, tfile + " model", "is not a BPE model with a vocabulary",
                     "export a model with a byte-level or SentencePiece-style BPE tokenizer.json");
  const bool spm = model.value("byte_fallback", false);
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  const std::int64_t size = token_list(tok, model, spm, n_vocab, tokens, types);
  const std::vector<std::string> merges = merges_of(model);
  std::vector<KeyValue> kv;
  kv.push_back({"tokenizer.ggml.model", Value::of(std::string(spm ? "llama" : "gpt2"))});
  if (spm) {
    kv.push_back({"tokenizer.ggml.pre", Value::of("default")});
  } else {
    QRUN_ASSIGN_OR_RETURN(const std::string pre, pre_name(tok, tfile));
    kv.push_back({"tokenizer.ggml.pre", Value::of(pre)});
  }
  if (spm) {
    // score = -(rank of the first merge producing the token); others below every merge
    std::map<std::string, std::size_t> rank;
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto sp = merges[r].find(' ');
      if (sp != std::string::npos) rank.emplace(merges[r].substr(0, sp) + merges[r].substr(sp + 1), r);
    }
    std::vector<float> scores;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      auto r = rank.find(tokens[i]);
      scores.push_back(types[i] != kNormal ? -1e9f
                       : r != rank.end()   ? -static_cast<float>(r->second)
                                           : -static_cast<float>(merges.size() + i));
    }
    kv.push_back({"tokenizer.ggml.tokens", Value::array_of(std::move(tokens))});
    kv.push_back({"tokenizer.ggml.scores", Value::array_of(scores)});
  } else {
    kv.push_back({"tokenizer.ggml.tokens", Value::array_of(std::move(tokens))});
  }
  kv.push_back({"tokenizer.ggml.token_type", Value::array_of(types)});
  if (!merges.empty()) kv.push_back({"tokenizer.ggml.merges", Value::array_of(merges)});
  special_tokens(tok, tcfg, cfg, size, kv);
  // SpecialVocab: tokenizer_config.json's chat_template, else chat_template.jinja
  if (tcfg.is_object() && tcfg.contains("chat_template") && tcfg.at("chat_template").is_string()) {
    kv.push_back({"tokenizer.chat_template", Value::of(tcfg.at("chat_template").get<std::string>())});
  } else if (std::ifstream jinja(folder / "chat_template.jinja", std::ios::binary); jinja) {
    kv.push_back({"tokenizer.chat_template", Value::of(std::string(std::istreambuf_iterator<char>(jinja), {}))});
  }
  return kv;
}

}  // namespace qrun::gguf
