// libFuzzer harness: the chat-template engine (framework/src/tokenizer/jinja + chat_template.cpp).
// The input is a Jinja template source rendered with a fixed conversation, as qrun renders a
// model's tokenizer_config.json chat_template.
#include "tokenizer/chat_template.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // templates in the wild are a few KB; keeps executions fast
  const std::string source(reinterpret_cast<const char*>(data), size);
  static const std::vector<qrun::ChatMessage> messages{
      {"system", "You are terse."}, {"user", "Hi <b>&\xc3\xa9"}, {"assistant", "Hello."}, {"user", "Again?"}};
  auto t = qrun::tok::ChatTemplate::from_source(source, "fuzz.jinja");
  auto r = t.render(messages, true);
  if (!r) {
    const auto& e = r.error();
    if (e.reason.empty() || e.message().size() > 4000) std::abort();
  }
  return 0;
}
