// All of wiki.test.raw through each real tokenizer gives exactly HF tokenizers' ids (checked as
// the sha256 of the ids written as little-endian int32, plus the count and the first/last 16
// ids), also in 64-line batches (which locate a mismatch), and decodes to HF's text.
#include "real_tokenizers.hpp"

#include "support/assets.hpp"
#include "tokenizer/ids_hash.hpp"
#include "tokenizer_fixtures.hpp"

#include <qrun/sha256.hpp>

#include <catch2/catch.hpp>

#include <cstdint>

using namespace qrun::test;
using Ids = std::vector<std::int64_t>;

namespace {

const std::string& wiki_text() {
  static const std::string text = read_file(asset("datasets/wikitext-2-raw/wiki.test.raw"));
  return text;
}

const nlohmann::json& wiki_golden(const std::string& name) {
  const nlohmann::json& golden = real_golden(name);
  REQUIRE(golden.at("wiki_sha256").get<std::string>() == qrun::sha256_hex(wiki_text()));  // the same file
  return golden.at("wiki");
}

void check_whole_file(const std::string& name) {
  const nlohmann::json& g = wiki_golden(name);
  const qrun::Tokenizer& t = real_tokenizer(name);
  const Ids ids = t.encode(wiki_text(), false);
  CHECK(ids.size() == g.at("count").get<std::size_t>());
  const Ids first(ids.begin(), ids.begin() + std::min<std::size_t>(16, ids.size()));
  const Ids last(ids.end() - std::min<std::size_t>(16, ids.size()), ids.end());
  CHECK(first == g.at("first").get<Ids>());
  CHECK(last == g.at("last").get<Ids>());
  CHECK(qrun::tok::token_ids_sha256(ids) == g.at("sha256_int32le").get<std::string>());
  const std::string decoded = t.decode(ids, false);
  CHECK(qrun::sha256_hex(decoded) == g.at("decoded_sha256").get<std::string>());
  CHECK((decoded == wiki_text()) == g.at("decoded_equals_input").get<bool>());
}

void check_batches(const std::string& name) {
  const nlohmann::json& g = wiki_golden(name);
  const qrun::Tokenizer& t = real_tokenizer(name);
  const auto lines_per_batch = g.at("lines_per_batch").get<std::size_t>();
  const nlohmann::json& batches = g.at("batches");
  // Lines end at "\n" (kept), as the generator cuts them.
  std::size_t begin = 0, batch = 0;
  const std::string& text = wiki_text();
  while (begin < text.size()) {
    std::size_t end = begin;
    for (std::size_t line = 0; line < lines_per_batch && end < text.size(); ++line) {
      const std::size_t nl = text.find('\n', end);
      end = nl == std::string::npos ? text.size() : nl + 1;
    }
    REQUIRE(batch < batches.size());
    INFO(name << ", batch " << batch << " (lines " << batch * lines_per_batch + 1 << " to "
              << (batch + 1) * lines_per_batch << ")");
    const Ids ids = t.encode(std::string_view(text).substr(begin, end - begin), false);
    CHECK(ids.size() == batches[batch][0].get<std::size_t>());
    CHECK(qrun::tok::token_ids_sha256(ids) == batches[batch][1].get<std::string>());
    begin = end;
    ++batch;
  }
  CHECK(batch == batches.size());
}

}  // namespace

TEST_CASE("llama3_1 tokenizes all of wiki.test.raw to HF ids and back", "[tokenizer][real][slow]") {
  check_whole_file("llama3_1");
}
TEST_CASE("gemma3 tokenizes all of wiki.test.raw to HF ids and back", "[tokenizer][real][slow]") {
  check_whole_file("gemma3");
}
TEST_CASE("qwen3 tokenizes all of wiki.test.raw to HF ids and back", "[tokenizer][real][slow]") {
  check_whole_file("qwen3");
}
TEST_CASE("llama2 tokenizes all of wiki.test.raw to HF ids and back", "[tokenizer][real][slow]") {
  check_whole_file("llama2");
}
TEST_CASE("llama2_metaspace_first tokenizes all of wiki.test.raw to HF ids and back", "[tokenizer][real][slow]") {
  check_whole_file("llama2_metaspace_first");
}
TEST_CASE("llama2_metaspace_always_split tokenizes all of wiki.test.raw to HF ids and back",
          "[tokenizer][real][slow]") {
  check_whole_file("llama2_metaspace_always_split");
}

TEST_CASE("every 64-line batch of wiki.test.raw gives HF ids under each real tokenizer", "[tokenizer][real][slow]") {
  for (const std::string& name : real_tokenizer_names()) check_batches(name);
}

TEST_CASE("qrun tokenize --sha256 fingerprints wiki.test.raw as HF tokenizers does", "[tokenizer][real][cli][slow]") {
  const std::string wiki = asset("datasets/wikitext-2-raw/wiki.test.raw").string();
  for (const std::string name : {"llama3_1", "gemma3", "qwen3", "llama2"}) {
    INFO(name);
    const nlohmann::json& g = wiki_golden(name);
    const auto r = run_command(qrun_exe().string() + " tokenize --no-special --sha256 --model " +
                               real_tokenizer_dir(name).string() + " --text " + wiki);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output == g.at("sha256_int32le").get<std::string>() + "  (" + std::to_string(g.at("count").get<std::size_t>()) +
                          " ids)\n");
  }
}
