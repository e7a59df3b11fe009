// Chat formatting from tokenizer_config.json's "chat_template", rendered as transformers'
// apply_chat_template renders it: the Jinja template (tokenizer/jinja/) in jinja2's sandboxed
// environment with trim_blocks and lstrip_blocks, given messages, add_generation_prompt, tools
// (None), the tokenizer's special tokens as transformers 5 names them (bos_token, eos_token,
// unk_token, sep_token, pad_token, cls_token, mask_token, the named extra_special_tokens) and the
// functions raise_exception and strftime_now.
#pragma once

#include "tokenizer/jinja/template.hpp"

#include <qrun/error.hpp>
#include <qrun/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qrun::tok {

class ChatTemplate {
 public:
  // `source`: the Jinja text (std::nullopt when the config has none). `where` names the file.
  static ChatTemplate from_source(std::optional<std::string> source, std::string where);
  // As from_source, plus the special tokens transformers passes to the template, read from
  // tokenizer_config.json (`config`: the parsed file, `config_file`: its path). A chat_template.jinja
  // beside it replaces `source`, as transformers (>= 4.47) loads it over the config's entry.
  static ChatTemplate from_config(std::optional<std::string> source, const nlohmann::json& config,
                                  const std::filesystem::path& config_file);
  // Reads model_dir/tokenizer_config.json (chat_template: a string, or a list of {"name",
  // "template"} whose "default" entry is used) and model_dir/chat_template.jinja.
  static Result<ChatTemplate> load(const std::filesystem::path& model_dir);

  // True when the config has a template (one qrun cannot parse still counts: rendering it then
  // fails with the construct and line, rather than the model silently losing its chat format).
  bool supported() const { return source_.has_value(); }

  Result<std::string> render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // `messages`: a JSON list of message objects as transformers takes them (any keys: role,
  // content (a string or a list of parts), tool_calls, ...). `extra`: more template variables
  // (apply_chat_template's **kwargs, e.g. {"enable_thinking": false}); `tools` is None unless given.
  Result<std::string> render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                  const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

  // The variables given to every render besides messages and add_generation_prompt.
  const std::vector<std::pair<std::string, jinja::Value>>& special_tokens() const { return special_; }

 private:
  void parse();

  std::optional<std::string> source_;
  std::optional<jinja::Template> parsed_;
  std::optional<Error> parse_error_;
  std::string where_;
  std::vector<std::pair<std::string, jinja::Value>> special_;
};

// The functions transformers' environment adds to every template: raise_exception(message) (the
// render fails with that message) and strftime_now(format) (local time).
std::vector<std::pair<std::string, jinja::Value>> transformers_functions();

}  // namespace qrun::tok
