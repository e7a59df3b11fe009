// Added and special tokens: matched in text, skipped on request, named by the config.
#include "tokenizer_fixtures.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

TEST_CASE("qwen2.5 special tokens in text are matched as single ids", "[tokenizer][special]") {
  const auto& t = qwen_tokenizer();
  CHECK(t.encode("<|im_start|>", false) == std::vector<std::int64_t>{151644});
  CHECK(t.encode("<|im_end|><|endoftext|>", false) == std::vector<std::int64_t>{151645, 151643});
}

TEST_CASE("qwen2.5 non-special added tokens are matched too", "[tokenizer][special]") {
  const auto& t = qwen_tokenizer();
  CHECK(t.encode("<tool_call>", false) == std::vector<std::int64_t>{151657});
}

TEST_CASE("qwen2.5 decode skips special tokens but keeps non-special added ones", "[tokenizer][special]") {
  const auto& t = qwen_tokenizer();
  const auto ids = t.encode("<|im_start|>user\nhi<|im_end|><tool_call>", false);
  CHECK(t.decode(ids, true) == "user\nhi<tool_call>");
  CHECK(t.decode(ids, false) == "<|im_start|>user\nhi<|im_end|><tool_call>");
}

TEST_CASE("qwen2.5 vocabulary size counts the added tokens", "[tokenizer][special]") {
  CHECK(qwen_tokenizer().vocab_size() == 151665);  // 151643 BPE tokens + 22 added (README)
}

TEST_CASE("qwen2.5 eos comes from tokenizer_config and there is no bos", "[tokenizer][special]") {
  const auto& t = qwen_tokenizer();
  CHECK(t.eos_id() == std::optional<std::int64_t>{151645});
  CHECK(!t.bos_id().has_value());
}

TEST_CASE("token_to_id finds vocabulary and added tokens and nothing else", "[tokenizer][special]") {
  const auto& t = qwen_tokenizer();
  CHECK(t.token_to_id("<|endoftext|>") == std::optional<std::int64_t>{151643});
  CHECK(t.token_to_id("Hello") == std::optional<std::int64_t>{9707});
  CHECK(!t.token_to_id("not a token at all").has_value());
}

TEST_CASE("stories260K bos, eos and vocabulary size", "[tokenizer][special]") {
  const auto& t = stories_tokenizer();
  CHECK(t.bos_id() == std::optional<std::int64_t>{1});
  CHECK(t.eos_id() == std::optional<std::int64_t>{2});
  CHECK(t.vocab_size() == 512);
}

TEST_CASE("stories260K matches <s> in text as the special token", "[tokenizer][special]") {
  const auto& t = stories_tokenizer();
  const auto ids = t.encode("<s>", false);
  CHECK(ids == std::vector<std::int64_t>{1});
}
