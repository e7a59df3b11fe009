// qrun::load_hf_tokenizer: tokenizer.json (+ tokenizer_config.json) -> a Tokenizer that encodes
// and decodes as Hugging Face tokenizers' TokenizerImpl does:
//   encode: added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor
//   decode: ids -> tokens (special tokens skipped on request) -> decoder
#include <qrun/tokenizer.hpp>

#include "tokenizer/added_vocabulary.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/decoder.hpp"
#include "tokenizer/json_access.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/post_processor.hpp"
#include "tokenizer/pre_tokenizer.hpp"
#include "tokenizer/utf8.hpp"

#include <algorithm>

namespace qrun {
namespace {

using tok::Json;
using tok::JsonWhere;

class HfTokenizer final : public Tokenizer {
 public:
  HfTokenizer(tok::Normalizer normalizer, tok::PreTokenizer pre_tokenizer, tok::BpeModel model,
              tok::AddedVocabulary added, tok::PostProcessor post, tok::Decoder decoder, tok::ChatTemplate chat,
              std::optional<std::int64_t> bos, std::optional<std::int64_t> eos)
      : normalizer_(std::move(normalizer)), pre_tokenizer_(std::move(pre_tokenizer)), model_(std::move(model)),
        added_(std::move(added)), post_(std::move(post)), decoder_(std::move(decoder)), chat_(std::move(chat)),
        bos_(bos), eos_(eos) {
    id_space_ = model_.id_space();
    for (const tok::AddedToken& t : added_.tokens()) id_space_ = std::max(id_space_, t.id + 1);
  }

  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens) const override {
    // Input that is not UTF-8 is read as tokenizers would receive it from Python: lossily decoded.
    std::string owned;
    if (!tok::is_valid_utf8(text)) {
      owned = tok::utf8_lossy(text);
      text = owned;
    }
    std::vector<std::int64_t> ids;
    for (const tok::TextPiece& piece : added_.split_and_normalize(text, normalizer_)) {
      if (piece.id) {
        ids.push_back(*piece.id);
        continue;
      }
      for (const std::string& word : pre_tokenizer_.split(piece.text, piece.at_input_start)) model_.tokenize(word, ids);
    }
    return add_special_tokens ? post_.apply(std::move(ids)) : ids;
  }

  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (std::int64_t id : ids) {
      // tokenizers: an added token decodes to its (normalized) pattern, else the vocabulary's
      // token; ids in neither are dropped. Special tokens are skipped by their text, so a
      // vocabulary token spelled like a special token is skipped too.
      const std::string* s = nullptr;
      if (const tok::AddedToken* t = added_.find_by_id(id)) s = &t->pattern;
      else s = model_.id_to_token(id);
      if (s != nullptr && !(skip_special_tokens && added_.is_special_content(*s))) tokens.push_back(*s);
    }
    return decoder_.decode(std::move(tokens));
  }

  std::int64_t vocab_size() const override { return id_space_; }

  std::optional<std::int64_t> token_to_id(std::string_view token) const override {
    if (const tok::AddedToken* t = added_.find_by_content(token)) return t->id;
    return model_.token_to_id(token);
  }
  std::optional<std::int64_t> bos_id() const override { return bos_; }
  std::optional<std::int64_t> eos_id() const override { return eos_; }
  bool has_chat_template() const override { return chat_.supported(); }
  Result<std::string> apply_chat_template(const std::vector<ChatMessage>& messages,
                                          bool add_generation_prompt) const override {
    return chat_.render(messages, add_generation_prompt);
  }

 private:
  tok::Normalizer normalizer_;
  tok::PreTokenizer pre_tokenizer_;
  tok::BpeModel model_;
  tok::AddedVocabulary added_;
  tok::PostProcessor post_;
  tok::Decoder decoder_;
  tok::ChatTemplate chat_;
  std::optional<std::int64_t> bos_, eos_;
  std::int64_t id_space_ = 0;
};

// tokenizer_config.json's bos_token / eos_token: a string, {"content": ...} or null.
Result<std::optional<std::string>> config_token(const Json& config, const JsonWhere& where, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::optional<std::string>{};
  if (it->is_string()) return std::optional<std::string>{it->get<std::string>()};
  if (it->is_object()) {
    auto content = tok::string_member(*it, where.key(key), "content");
    if (!content.ok()) return content.error();
    return std::optional<std::string>{*content};
  }
  return where.key(key).error("is neither a string nor an object", "restore the file from the original download");
}

// tokenizer_config.json's add_bos_token / add_eos_token: absent (nullopt), or set (null = false).
Result<std::optional<bool>> config_flag(const Json& config, const JsonWhere& where, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::optional<bool>{};
  if (it->is_null()) return std::optional<bool>{false};
  if (it->is_boolean()) return std::optional<bool>{it->get<bool>()};
  return where.key(key).error("is not true, false or null", "restore the file from the original download");
}

// tokenizer_config.json's special-token settings.
struct ConfigTokens {
  std::optional<std::string> bos, eos;
  std::optional<bool> add_bos, add_eos;
};

Result<ConfigTokens> config_tokens(const Json& config, const JsonWhere& where) {
  auto bos = config_token(config, where, "bos_token");
  auto eos = config_token(config, where, "eos_token");
  auto add_bos = config_flag(config, where, "add_bos_token");
  auto add_eos = config_flag(config, where, "add_eos_token");
  if (!bos.ok()) return bos.error();
  if (!eos.ok()) return eos.error();
  if (!add_bos.ok()) return add_bos.error();
  if (!add_eos.ok()) return add_eos.error();
  return ConfigTokens{*bos, *eos, *add_bos, *add_eos};
}

// tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} whose
// "default" entry is the chat template.
Result<std::optional<std::string>> config_chat_template(const Json& config, const JsonWhere& where) {
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::optional<std::string>{};
  if (it->is_string()) return std::optional<std::string>{it->get<std::string>()};
  if (it->is_array()) {
    for (const Json& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return std::optional<std::string>{entry["template"].get<std::string>()};
      }
    }
    return std::optional<std::string>{};
  }
  return where.key("chat_template").error("is neither a string nor a list", "restore the file from the original download");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::filesystem::path& model_dir) {
  const std::filesystem::path file = model_dir / "tokenizer.json";
  if (!std::filesystem::exists(file)) {
    return Error{file.string(), "does not exist",
                 "point --model at a Hugging Face model folder that contains tokenizer.json", ErrorCode::not_found};
  }
  auto doc = tok::read_json_file(file);
  if (!doc.ok()) return doc.error();
  const Json& root = *doc;
  const JsonWhere where{file.string(), ""};
  if (!root.is_object()) return where.error("is not a JSON object", "restore the file from the original download");

  for (const char* key : {"truncation", "padding"}) {
    if (root.contains(key) && !root[key].is_null()) {
      return where.key(key).error("is set; qrun does not truncate or pad in the tokenizer",
                                  std::string("set \"") + key + "\" to null");
    }
  }
  const Json null_value;
  auto normalizer = tok::Normalizer::from_json(root.value("normalizer", null_value), where.key("normalizer"));
  if (!normalizer.ok()) return normalizer.error();
  auto pre = tok::PreTokenizer::from_json(root.value("pre_tokenizer", null_value), where.key("pre_tokenizer"));
  if (!pre.ok()) return pre.error();
  auto model_json = tok::member(root, where, "model", Json::value_t::object);
  if (!model_json.ok()) return model_json.error();
  auto model = tok::BpeModel::from_json(**model_json, where.key("model"));
  if (!model.ok()) return model.error();
  auto added_json = tok::optional_member(root, where, "added_tokens", Json::value_t::array);
  if (!added_json.ok()) return added_json.error();
  auto added = tok::AddedVocabulary::from_json(*added_json, where.key("added_tokens"), *normalizer, *model);
  if (!added.ok()) return added.error();
  auto post = tok::PostProcessor::from_json(root.value("post_processor", null_value), where.key("post_processor"));
  if (!post.ok()) return post.error();
  auto decoder = tok::Decoder::from_json(root.value("decoder", null_value), where.key("decoder"));
  if (!decoder.ok()) return decoder.error();

  // tokenizer_config.json (optional): BOS/EOS names and the chat template.
  std::optional<std::string> chat_source;
  ConfigTokens special;
  Json chat_config = Json::object();  // its special tokens are chat template variables
  const std::filesystem::path config_file = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_file)) {
    auto config = tok::read_json_file(config_file);
    if (!config.ok()) return config.error();
    const JsonWhere cw{config_file.string(), ""};
    if (!config->is_object()) return cw.error("is not a JSON object", "restore the file from the original download");
    auto tokens = config_tokens(*config, cw);
    auto chat = config_chat_template(*config, cw);
    if (!tokens.ok()) return tokens.error();
    if (!chat.ok()) return chat.error();
    special = *tokens;
    chat_source = *chat;
    chat_config = *config;
  }
  auto resolve = [&](const std::optional<std::string>& name, const char* key) -> Result<std::optional<std::int64_t>> {
    if (!name) return std::optional<std::int64_t>{};
    if (const tok::AddedToken* t = added->find_by_content(*name)) return std::optional<std::int64_t>{t->id};
    if (auto id = model->token_to_id(*name)) return std::optional<std::int64_t>{*id};
    return JsonWhere{config_file.string(), key}.error("\"" + *name + "\" is not a token of tokenizer.json",
                                                      "restore the model's tokenizer files together");
  };
  auto bos = resolve(special.bos, "bos_token");
  auto eos = resolve(special.eos, "eos_token");
  if (!bos.ok()) return bos.error();
  if (!eos.ok()) return eos.error();
  // transformers (TokenizersBackend.update_post_processor): when tokenizer_config.json sets
  // add_bos_token or add_eos_token, encode adds exactly [bos] $A [eos] as those flags say, in
  // place of tokenizer.json's post-processor (the same ids for files that agree).
  if (special.add_bos || special.add_eos) {
    *post = tok::PostProcessor::bos_eos(special.add_bos.value_or(false) ? *bos : std::nullopt,
                                        special.add_eos.value_or(false) ? *eos : std::nullopt);
  }

  std::unique_ptr<Tokenizer> t = std::make_unique<HfTokenizer>(
      std::move(*normalizer), std::move(*pre), std::move(*model), std::move(*added), std::move(*post),
      std::move(*decoder), tok::ChatTemplate::from_config(chat_source, chat_config, config_file.string()), *bos, *eos);
  return t;
}

}  // namespace qrun
