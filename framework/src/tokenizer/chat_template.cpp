// ChatML as Qwen2.5-Instruct's chat template renders a conversation without tools:
//   [<|im_start|>system\n{system}<|im_end|>\n]  (the default system prompt when none is given)
//   <|im_start|>{role}\n{content}<|im_end|>\n   for every other message
//   <|im_start|>assistant\n                      with add_generation_prompt
#include "tokenizer/chat_template.hpp"

namespace qrun::tok {
namespace {

constexpr const char* kStart = "<|im_start|>";
constexpr const char* kEnd = "<|im_end|>";

// Undoes the escapes a Jinja string literal may hold (\n, \t, \\, \', \").
std::string unescape_jinja(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The default system prompt: a string literal that writes a whole system turn by itself,
// '<|im_start|>system\n...<|im_end|>\n' (Qwen2 / Qwen2.5 templates, in the branch taken when
// the first message is not a system message).
std::optional<std::string> find_default_system(const std::string& source) {
  const std::string head = std::string(kStart) + "system\\n";
  for (std::size_t pos = source.find(head); pos != std::string::npos; pos = source.find(head, pos + 1)) {
    if (pos == 0) continue;
    const char quote = source[pos - 1];
    if (quote != '\'' && quote != '"') continue;
    std::size_t close = pos;
    while ((close = source.find(quote, close)) != std::string::npos && source[close - 1] == '\\') ++close;
    if (close == std::string::npos) break;
    const std::string literal = source.substr(pos + head.size(), close - pos - head.size());
    const std::size_t end = literal.find(kEnd);
    if (end != std::string::npos) return unescape_jinja(literal.substr(0, end));
  }
  return std::nullopt;
}

}  // namespace

ChatTemplate ChatTemplate::from_source(std::optional<std::string> source, std::string where) {
  ChatTemplate t;
  t.where_ = std::move(where);
  if (!source) return t;
  t.present_ = true;
  t.chatml_ = source->find(kStart) != std::string::npos && source->find(kEnd) != std::string::npos;
  if (t.chatml_) t.default_system_ = find_default_system(*source);
  return t;
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  if (!chatml_) {
    return Error{where_ + " chat_template",
                 present_ ? "is not a ChatML template, the only kind qrun renders" : "is missing: this model has no chat format",
                 "use a base-model prompt (no --chat), or a ChatML model such as a Qwen2.5-Instruct"};
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return Error{"messages[" + std::to_string(i) + "].role", "\"" + role + "\" is not system, user or assistant",
                   "use one of those roles (tool messages are not supported)"};
    }
  }
  std::string out;
  std::size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {
    out += std::string(kStart) + "system\n" + messages[0].content + kEnd + "\n";
    first = 1;
  } else if (default_system_) {
    out += std::string(kStart) + "system\n" + *default_system_ + kEnd + "\n";
  }
  for (std::size_t i = first; i < messages.size(); ++i) {
    out += std::string(kStart) + messages[i].role + "\n" + messages[i].content + kEnd + "\n";
  }
  if (add_generation_prompt) out += std::string(kStart) + "assistant\n";
  return out;
}

}  // namespace qrun::tok
