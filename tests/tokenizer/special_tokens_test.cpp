// Added and special tokens: matched in text, skipped on request, named by the config.
#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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

TEST_CASE("an added token with lstrip and rstrip swallows the whitespace around it", "[tokenizer][special]") {
  auto doc = nlohmann::json::parse(read_file(asset("models/stories260K/tokenizer.json")));
  for (auto& t : doc["added_tokens"]) {
    if (t["content"] == "</s>") t["lstrip"] = t["rstrip"] = true;
  }
  const auto dir = temp_dir("tokenizer-strip");
  write_file(dir / "tokenizer.json", doc.dump());
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(t.ok());
  // "a  </s>  b" splits into "a", "</s>", "b": each side normalized on its own (▁ prepended).
  std::vector<std::int64_t> expected = (*t)->encode("a", false);
  expected.push_back(2);
  const auto b = (*t)->encode("b", false);
  expected.insert(expected.end(), b.begin(), b.end());
  CHECK((*t)->encode("a  </s>  b", false) == expected);
  // Without the flags the spaces stay with the neighbouring text.
  CHECK(stories_tokenizer().encode("a  </s>  b", false) != expected);
}

namespace {
// stories260K's tokenizer.json with its tokenizer_config.json changed by `edit`.
std::unique_ptr<qrun::Tokenizer> stories_with_config(const std::string& name,
                                                     const std::function<void(nlohmann::json&)>& edit) {
  const auto dir = temp_dir("tokenizer-config-" + name);
  write_file(dir / "tokenizer.json", read_file(asset("models/stories260K/tokenizer.json")));
  auto config = nlohmann::json::parse(read_file(asset("models/stories260K/tokenizer_config.json")));
  edit(config);
  write_file(dir / "tokenizer_config.json", config.dump());
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(t.ok());
  return std::move(*t);
}
}  // namespace

// transformers 5 (TokenizersBackend: add_bos_token / add_eos_token in tokenizer_config.json make
// update_post_processor install "[bos] $A [eos]") decides what encode adds, not tokenizer.json's
// TemplateProcessing, whenever the config sets either flag.
TEST_CASE("tokenizer_config add_bos_token false drops the BOS the post-processor would add", "[tokenizer][special]") {
  const auto t = stories_with_config("no-bos", [](nlohmann::json& c) { c["add_bos_token"] = false; });
  CHECK(t->encode("hello", true) == t->encode("hello", false));
}

TEST_CASE("tokenizer_config add_eos_token true appends the EOS after the BOS and the text", "[tokenizer][special]") {
  const auto t = stories_with_config("eos", [](nlohmann::json& c) { c["add_eos_token"] = true; });
  std::vector<std::int64_t> expected{1};
  for (std::int64_t id : t->encode("hello", false)) expected.push_back(id);
  expected.push_back(2);
  CHECK(t->encode("hello", true) == expected);
}

TEST_CASE("without add_bos_token or add_eos_token the tokenizer.json post-processor stays", "[tokenizer][special]") {
  const auto t = stories_with_config("no-flags", [](nlohmann::json& c) {
    c.erase("add_bos_token");
    c.erase("add_eos_token");
  });
  CHECK(t->encode("hello", true).front() == 1);
}

TEST_CASE("a tokenizer_config add_bos_token that is not a boolean is refused", "[tokenizer][special]") {
  const auto dir = temp_dir("tokenizer-config-bad-flag");
  write_file(dir / "tokenizer.json", read_file(asset("models/stories260K/tokenizer.json")));
  write_file(dir / "tokenizer_config.json", R"({"add_bos_token": "yes"})");
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(t.error().thing.find("tokenizer_config.json add_bos_token") != std::string::npos);
  CHECK(!t.error().fix.empty());
}
