// Chat formatting from tokenizer_config.json's "chat_template". qrun does not run Jinja: it
// recognises ChatML templates (those writing "<|im_start|>") and renders them as Qwen2.5-Instruct's
// template does without tools, including the template's default system prompt.
#pragma once

#include <qrun/error.hpp>
#include <qrun/tokenizer.hpp>

#include <optional>
#include <string>
#include <vector>

namespace qrun::tok {

class ChatTemplate {
 public:
  // `source`: the Jinja text (std::nullopt when the config has none). `where` names the file.
  static ChatTemplate from_source(std::optional<std::string> source, std::string where);

  bool supported() const { return chatml_; }
  const std::optional<std::string>& default_system_prompt() const { return default_system_; }

  Result<std::string> render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  bool chatml_ = false;
  bool present_ = false;
  std::string where_;
  std::optional<std::string> default_system_;
};

}  // namespace qrun::tok
