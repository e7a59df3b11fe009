// ChatTemplate: tokenizer_config.json's chat_template through qrun's Jinja interpreter, with the
// variables transformers gives it (PreTrainedTokenizerBase.apply_chat_template ->
// render_jinja_template: messages, tools, documents, add_generation_prompt, then
// **{**special_tokens_map, **kwargs}; the environment adds raise_exception and strftime_now).
#include "tokenizer/chat_template.hpp"

#include "tokenizer/json_access.hpp"

#include <ctime>
#include <fstream>
#include <sstream>

namespace qrun::tok {
namespace {

// transformers' SPECIAL_TOKENS_ATTRIBUTES: the named special tokens of special_tokens_map, which
// keeps only the set ones (no null and no "").
constexpr const char* kNamedTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                        "pad_token", "cls_token", "mask_token"};

// A named token the config leaves out takes the tokenizer class's __init__ default (an explicit
// null does not). The classes of the npm tokenizers, as transformers 5.17 gave their templates
// (tests/golden/chat_templates/hf_renders.json, template_variables).
struct ClassDefault {
  const char* tokenizer_class;
  const char* key;
  const char* value;
};
constexpr ClassDefault kClassDefaults[] = {
    {"GemmaTokenizer", "bos_token", "<bos>"},   {"GemmaTokenizer", "eos_token", "<eos>"},
    {"GemmaTokenizer", "unk_token", "<unk>"},   {"GemmaTokenizer", "pad_token", "<pad>"},
    {"GemmaTokenizer", "mask_token", "<mask>"}, {"LlamaTokenizer", "bos_token", "<s>"},
    {"LlamaTokenizer", "eos_token", "</s>"},    {"LlamaTokenizer", "unk_token", "<unk>"},
    {"Qwen2Tokenizer", "eos_token", "<|endoftext|>"}, {"Qwen2Tokenizer", "unk_token", "<|endoftext|>"},
    {"Qwen2Tokenizer", "pad_token", "<|endoftext|>"},
};

// A token entry of tokenizer_config.json: "text", or an AddedToken object {"content": "text", ...}.
std::optional<std::string> token_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// The special-token variables transformers 5 gives a template: the named tokens (config, else the
// class default) and the named extra_special_tokens ({"image_token": "<image_soft_token>", ...});
// additional_special_tokens / a list of extra_special_tokens are not template variables there.
std::vector<std::pair<std::string, jinja::Value>> special_tokens_of(const nlohmann::json& config) {
  std::vector<std::pair<std::string, jinja::Value>> out;
  if (!config.is_object()) return out;
  const std::string cls = config.value("tokenizer_class", "");
  for (const char* key : kNamedTokens) {
    const auto it = config.find(key);
    std::optional<std::string> text;
    if (it != config.end()) {
      text = token_text(*it);
    } else {
      for (const ClassDefault& d : kClassDefaults) {
        if (cls == d.tokenizer_class && std::string(key) == d.key) text = d.value;
      }
    }
    if (text && !text->empty()) out.emplace_back(key, jinja::Value(*text));
  }
  const auto extra = config.find("extra_special_tokens");
  if (extra != config.end() && extra->is_object()) {
    for (const auto& [key, value] : extra->items()) {
      auto text = token_text(value);
      if (text && !text->empty()) out.emplace_back(key, jinja::Value(*text));
    }
  }
  return out;
}

// transformers' raise_exception(message): jinja2.exceptions.TemplateError(message).
jinja::Value raise_exception_fn() {
  return jinja::Value::callable("raise_exception", [](jinja::CallArgs& a) -> jinja::Value {
    throw jinja::TemplateError(a.positional.empty() ? std::string() : jinja::to_str(a.positional[0]), 0,
                               jinja::TemplateError::Kind::raised);
  });
}

// transformers' strftime_now(format): datetime.now().strftime(format), local time (Python's
// strftime calls the C library's, as this does).
jinja::Value strftime_now_fn() {
  return jinja::Value::callable("strftime_now", [](jinja::CallArgs& a) -> jinja::Value {
    if (a.positional.empty() || !a.positional[0].is_string()) {
      throw jinja::TemplateError("strftime_now(format) needs a format string");
    }
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[512];
    const std::size_t n = std::strftime(buf, sizeof buf, a.positional[0].as_string().c_str(), &local);
    return jinja::Value(std::string(buf, n));
  });
}

}  // namespace

std::vector<std::pair<std::string, jinja::Value>> transformers_functions() {
  return {{"raise_exception", raise_exception_fn()}, {"strftime_now", strftime_now_fn()}};
}

ChatTemplate ChatTemplate::from_source(std::optional<std::string> source, std::string where) {
  ChatTemplate t;
  t.where_ = std::move(where) + " chat_template";
  t.source_ = std::move(source);
  t.parse();
  return t;
}

ChatTemplate ChatTemplate::from_config(std::optional<std::string> source, const nlohmann::json& config,
                                       const std::filesystem::path& config_file) {
  ChatTemplate t;
  t.where_ = config_file.string() + " chat_template";
  t.special_ = special_tokens_of(config);
  t.source_ = std::move(source);
  const std::filesystem::path sidecar = config_file.parent_path() / "chat_template.jinja";
  if (std::filesystem::exists(sidecar)) {
    std::ifstream in(sidecar, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    t.source_ = text.str();
    t.where_ = sidecar.string();
  }
  t.parse();
  return t;
}

Result<ChatTemplate> ChatTemplate::load(const std::filesystem::path& model_dir) {
  const std::filesystem::path file = model_dir / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  std::optional<std::string> source;
  if (std::filesystem::exists(file)) {
    auto doc = read_json_file(file);
    if (!doc.ok()) return doc.error();
    if (!doc->is_object()) {
      return Error{file.string(), "is not a JSON object", "restore the file from the original download", ErrorCode::corrupt_input};
    }
    config = std::move(*doc);
    const auto it = config.find("chat_template");
    if (it != config.end() && it->is_string()) {
      source = it->get<std::string>();
    } else if (it != config.end() && it->is_array()) {
      for (const auto& entry : *it) {
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string()) {
          source = entry["template"].get<std::string>();
        }
      }
    } else if (it != config.end() && !it->is_null()) {
      return Error{file.string() + " chat_template", "is neither a string nor a list",
                   "restore the file from the original download", ErrorCode::corrupt_input};
    }
  } else if (!std::filesystem::exists(model_dir / "chat_template.jinja")) {
    return Error::of(ErrorCode::not_found, file.string(), "does not exist (nor chat_template.jinja beside it)",
                     "point --model at a Hugging Face model folder with tokenizer files");
  }
  return from_config(std::move(source), config, file);
}

void ChatTemplate::parse() {
  if (!source_) return;
  auto parsed = jinja::Template::parse(*source_, where_);
  if (parsed.ok()) {
    parsed_ = std::move(*parsed);
  } else {
    parse_error_ = parsed.error();
  }
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  return render_json(list, add_generation_prompt);
}

Result<std::string> ChatTemplate::render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                              const nlohmann::ordered_json& extra) const {
  if (!source_) {
    return Error::of(ErrorCode::not_found, where_, "is missing: this model has no chat template",
                     "use the model without one (e.g. qrun generate without --chat), or an instruct model whose "
                     "tokenizer_config.json (or chat_template.jinja) has one");
  }
  if (parse_error_) return *parse_error_;
  if (!messages.is_array()) {
    return Error{"messages", "is not a list of message objects", "give [{\"role\": ..., \"content\": ...}, ...]"};
  }
  std::vector<std::pair<std::string, jinja::Value>> vars = {
      {"messages", jinja::from_json(messages)},
      {"tools", jinja::Value::none()},
      {"documents", jinja::Value::none()},
      {"add_generation_prompt", jinja::Value(add_generation_prompt)},
  };
  for (auto& f : transformers_functions()) vars.push_back(std::move(f));
  vars.insert(vars.end(), special_.begin(), special_.end());
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) vars.emplace_back(key, jinja::from_json(value));
  }
  return parsed_->render(vars);
}

}  // namespace qrun::tok
