// Every golden string encodes to exactly the ids HF tokenizers gives (exact: ids are integers).
#include "tokenizer_fixtures.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

void check_all(const qrun::Tokenizer& tokenizer, const std::string& model, bool add_special_tokens) {
  for (const GoldenTokens& g : golden_tokens(model)) {
    INFO("text: \"" << g.text << "\"");
    CHECK(tokenizer.encode(g.text, add_special_tokens) == g.ids);
  }
}

}  // namespace

TEST_CASE("qwen2.5 tokenizer encodes every golden string to the HF ids", "[tokenizer][golden]") {
  check_all(qwen_tokenizer(), "tiny-qwen2", /*add_special_tokens=*/false);  // tokens.json: add_special_tokens=False
}

TEST_CASE("stories260K tokenizer encodes every golden string to the HF ids with BOS", "[tokenizer][golden]") {
  check_all(stories_tokenizer(), "stories260K", /*add_special_tokens=*/true);  // tokens.json includes BOS
}

TEST_CASE("qwen2.5 tokenizer adds no special tokens even when asked", "[tokenizer][golden]") {
  // Its post-processor is ByteLevel, which changes offsets only.
  const auto& t = qwen_tokenizer();
  CHECK(t.encode("Hello world", true) == t.encode("Hello world", false));
}

TEST_CASE("stories260K tokenizer adds BOS only when asked", "[tokenizer][golden]") {
  const auto& t = stories_tokenizer();
  const auto with = t.encode("hello", true);
  const auto without = t.encode("hello", false);
  REQUIRE(with.size() == without.size() + 1);
  CHECK(with.front() == 1);
  CHECK(std::vector<std::int64_t>(with.begin() + 1, with.end()) == without);
}
