// The whole WikiText-2 test split through the Qwen2.5 tokenizer.
#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"
#include "tokenizer/ids_hash.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace qrun::test;

namespace {
// tests/golden/hf_references.json (bench/reference/hf_references.py, tokenizers 0.23.2):
// models.<name>.raw_file_ids = tokenizers' encode(whole file, add_special_tokens=False).
nlohmann::json hf_raw_file_ids(const std::string& model) {
  std::ifstream f(source_dir() / "tests/golden/hf_references.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f).at("models").at(model).at("raw_file_ids");
}
}  // namespace

TEST_CASE("wiki.test.raw tokenizes to 299,078 qwen2.5 tokens", "[tokenizer][wikitext]") {
  const std::string text = read_file(asset("datasets/wikitext-2-raw/wiki.test.raw"));
  const auto ids = qwen_tokenizer().encode(text, false);
  CHECK(ids.size() == 299078);  // HF tokenizers, add_special_tokens=False
}

TEST_CASE("wiki.test.raw gives exactly HF tokenizers' ids under both fixture tokenizers", "[tokenizer][wikitext]") {
  const std::string text = read_file(asset("datasets/wikitext-2-raw/wiki.test.raw"));
  // Exact equality of every id, checked through the sha256 of the ids as little-endian int32.
  const auto qwen = qwen_tokenizer().encode(text, false);
  const auto qwen_ref = hf_raw_file_ids("tiny-qwen2");
  CHECK(qwen.size() == qwen_ref.at("count").get<std::size_t>());
  CHECK(qrun::tok::token_ids_sha256(qwen) == qwen_ref.at("sha256_int32le").get<std::string>());
  const auto stories = stories_tokenizer().encode(text, false);
  const auto stories_ref = hf_raw_file_ids("stories260K");
  CHECK(stories.size() == stories_ref.at("count").get<std::size_t>());
  CHECK(qrun::tok::token_ids_sha256(stories) == stories_ref.at("sha256_int32le").get<std::string>());
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
