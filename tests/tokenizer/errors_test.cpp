// Bad tokenizer files are refused with one Error naming the file, the JSON path and a fix.
#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace qrun::test;

namespace {

// A model folder holding the stories260K tokenizer.json changed by `edit`.
std::filesystem::path edited_stories(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  auto doc = nlohmann::json::parse(read_file(asset("models/stories260K/tokenizer.json")));
  edit(doc);
  const auto dir = temp_dir("tokenizer-" + name);
  write_file(dir / "tokenizer.json", doc.dump());
  return dir;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST_CASE("a folder without tokenizer.json is refused", "[tokenizer][errors]") {
  const auto dir = temp_dir("tokenizer-empty");
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "tokenizer.json"));
  CHECK(!t.error().fix.empty());
}

TEST_CASE("malformed tokenizer.json is refused with the byte offset", "[tokenizer][errors]") {
  const auto dir = temp_dir("tokenizer-malformed");
  write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\",");
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "tokenizer.json"));
  CHECK(t.error().reason.find("not valid JSON") != std::string::npos);
  CHECK(!t.error().fix.empty());
}

TEST_CASE("an unsupported pre-tokenizer is refused by name and path", "[tokenizer][errors]") {
  const auto dir = edited_stories("bert-pre", [](nlohmann::json& d) { d["pre_tokenizer"] = {{"type", "BertPreTokenizer"}}; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "tokenizer.json pre_tokenizer.type"));
  CHECK(t.error().reason.find("\"BertPreTokenizer\" is not supported") != std::string::npos);
  CHECK(!t.error().fix.empty());
}

TEST_CASE("an unsupported normalizer inside a Sequence is refused with its index", "[tokenizer][errors]") {
  const auto dir = edited_stories("nmt", [](nlohmann::json& d) { d["normalizer"]["normalizers"][1] = {{"type", "Nmt"}}; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "normalizer.normalizers[1].type"));
  CHECK(!t.error().fix.empty());
}

TEST_CASE("an unsupported model type is refused", "[tokenizer][errors]") {
  const auto dir = edited_stories("unigram", [](nlohmann::json& d) { d["model"]["type"] = "Unigram"; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "model.type"));
  CHECK(!t.error().fix.empty());
}

TEST_CASE("an unsupported decoder is refused", "[tokenizer][errors]") {
  const auto dir = edited_stories("decoder", [](nlohmann::json& d) { d["decoder"]["decoders"][0] = {{"type", "CTC"}}; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "decoder.decoders[0].type"));
}

TEST_CASE("a merge naming a token missing from the vocabulary is refused", "[tokenizer][errors]") {
  const auto dir = edited_stories("merge", [](nlohmann::json& d) { d["model"]["merges"][3] = "zzz_missing q"; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "model.merges[3]"));
  CHECK(t.error().reason.find("zzz_missing") != std::string::npos);
}

TEST_CASE("merges in [\"a\", \"b\"] form load like \"a b\"", "[tokenizer][errors]") {
  const auto dir = edited_stories("merge-pairs", [](nlohmann::json& d) {
    for (auto& m : d["model"]["merges"]) {
      const auto s = m.get<std::string>();
      const auto space = s.find(' ');
      m = nlohmann::json::array({s.substr(0, space), s.substr(space + 1)});
    }
  });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(t.ok());
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  CHECK((*t)->encode(text, true) == stories_tokenizer().encode(text, true));
}

TEST_CASE("a wrongly typed member is refused with its path", "[tokenizer][errors]") {
  const auto dir = edited_stories("type", [](nlohmann::json& d) { d["model"]["byte_fallback"] = "yes"; });
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "model.byte_fallback"));
}

TEST_CASE("malformed tokenizer_config.json is refused", "[tokenizer][errors]") {
  const auto dir = edited_stories("config", [](nlohmann::json&) {});
  write_file(dir / "tokenizer_config.json", "{ not json");
  auto t = qrun::load_hf_tokenizer(dir);
  REQUIRE(!t.ok());
  CHECK(ends_with(t.error().thing, "tokenizer_config.json"));
}
