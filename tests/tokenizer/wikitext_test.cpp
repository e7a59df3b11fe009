// The whole WikiText-2 test split through the Qwen2.5 tokenizer.
#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"
#include "tokenizer/ids_hash.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

TEST_CASE("wiki.test.raw tokenizes to 299,078 qwen2.5 tokens", "[tokenizer][wikitext]") {
  const std::string text = read_file(asset("datasets/wikitext-2-raw/wiki.test.raw"));
  const auto ids = qwen_tokenizer().encode(text, false);
  CHECK(ids.size() == 299078);  // HF tokenizers, add_special_tokens=False
  // The ids' fingerprint, for comparison with HF's (sha256 of little-endian int32 ids).
  WARN("wiki.test.raw qwen2.5 ids sha256: " << qrun::tok::token_ids_sha256(ids));
}

TEST_CASE("the first 2000 characters of wiki.test.raw give 512 qwen2.5 tokens", "[tokenizer][wikitext]") {
  const std::string text = read_file(asset("datasets/wikitext-2-raw/wiki.test.raw"));
  std::size_t bytes = 0;
  for (int chars = 0; chars < 2000 && bytes < text.size(); ++chars) {  // 2000 code points (README)
    const auto b = static_cast<unsigned char>(text[bytes]);
    bytes += b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  }
  CHECK(qwen_tokenizer().encode(text.substr(0, bytes), false).size() == 512);  // golden.safetensors note
}
