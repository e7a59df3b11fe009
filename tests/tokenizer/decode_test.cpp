// Decoding gives back the text, as HF tokenizers' decode does.
#include "tokenizer_fixtures.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

TEST_CASE("qwen2.5 decode round-trips every golden string but the NFD one", "[tokenizer][decode]") {
  const auto& t = qwen_tokenizer();
  int nfd_cases = 0;
  for (const GoldenTokens& g : golden_tokens("tiny-qwen2")) {
    INFO("text: \"" << g.text << "\"");
    const std::string decoded = t.decode(g.ids, /*skip_special_tokens=*/false);
    if (g.text.find("e\xCC\x81") != std::string::npos) {  // "e" + U+0301: the normalizer composed it
      ++nfd_cases;
      std::string composed = g.text;
      composed.replace(composed.find("e\xCC\x81"), 3, "\xC3\xA9");  // U+00E9
      CHECK(decoded == composed);
    } else {
      CHECK(decoded == g.text);
    }
  }
  CHECK(nfd_cases == 1);
}

TEST_CASE("stories260K decode round-trips every golden string", "[tokenizer][decode]") {
  const auto& t = stories_tokenizer();
  for (const GoldenTokens& g : golden_tokens("stories260K")) {
    INFO("text: \"" << g.text << "\"");
    CHECK(t.decode(g.ids, /*skip_special_tokens=*/true) == g.text);
  }
}

TEST_CASE("stories260K decode turns byte-fallback tokens back into UTF-8", "[tokenizer][decode]") {
  const auto& t = stories_tokenizer();
  const auto ids = t.encode("你好", false);
  CHECK(ids.size() == 1 + 6);  // "▁" then three bytes per character (not in the 512-token vocab)
  CHECK(t.decode(ids, true) == "你好");
}

TEST_CASE("stories260K decode writes U+FFFD for byte tokens that are not UTF-8", "[tokenizer][decode]") {
  const auto& t = stories_tokenizer();
  const auto e4 = t.token_to_id("<0xE4>");
  REQUIRE(e4.has_value());
  CHECK(t.decode({*e4}, true) == "\xEF\xBF\xBD");
}

TEST_CASE("qwen2.5 decode replaces a split multi-byte character with U+FFFD", "[tokenizer][decode]") {
  const auto& t = qwen_tokenizer();
  const auto ids = t.encode("\xF0\x93\x80\x80", false);  // U+13000: three byte-level tokens
  REQUIRE(ids.size() > 1);
  const std::string first = t.decode({ids.front()}, false);
  CHECK(first.find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(t.decode(ids, false) == "\xF0\x93\x80\x80");
}
