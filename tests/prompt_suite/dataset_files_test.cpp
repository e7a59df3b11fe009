// The shipped data files: datasets/prompt_suite_96.json and datasets/calibration.json.
#include "suite_file.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

using namespace qrun::prompt_suite;

namespace {

const std::vector<std::string> kCategories = {
    "code_generation",    "mathematical_reasoning", "summarization",     "creative_writing",
    "question_answering", "translation",            "sentiment_analysis", "logical_reasoning",
    "general_knowledge",  "instruction_following",  "dialogue",          "science"};

// Category -> id prefix, as datasets/README.md lists them.
const std::map<std::string, std::string> kPrefix = {
    {"code_generation", "code"},   {"mathematical_reasoning", "math"}, {"summarization", "summ"},
    {"creative_writing", "creative"}, {"question_answering", "qa"},    {"translation", "trans"},
    {"sentiment_analysis", "senti"}, {"logical_reasoning", "logic"},   {"general_knowledge", "gk"},
    {"instruction_following", "instr"}, {"dialogue", "dialog"},        {"science", "sci"}};

PromptSuite shipped_suite() {
  auto suite = load_prompt_suite(qrun::test::source_dir() / "datasets/prompt_suite_96.json");
  if (!suite) FAIL(suite.error().message());
  return *suite;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("the shipped prompt suite loads with schema version 1 and a licence", "[prompt_suite][data]") {
  PromptSuite suite = shipped_suite();
  CHECK(suite.name == "prompt_suite_96");
  CHECK(suite.schema_version == kSchemaVersion);
  CHECK(suite.license.rfind("CC0-1.0", 0) == 0);
}

TEST_CASE("the shipped prompt suite has the twelve categories with eight prompts each", "[prompt_suite][data]") {
  PromptSuite suite = shipped_suite();
  CHECK(suite.categories == kCategories);
  REQUIRE(suite.prompts.size() == 96);
  std::map<std::string, int> per_category;
  for (const auto& p : suite.prompts) ++per_category[p.category];
  for (const auto& c : kCategories) CHECK(per_category[c] == 8);
}

TEST_CASE("the shipped prompt ids are unique and numbered 01 to 08 under their category's prefix",
          "[prompt_suite][data]") {
  PromptSuite suite = shipped_suite();
  std::set<std::string> expected, ids;
  for (const auto& [category, prefix] : kPrefix)
    for (int i = 1; i <= 8; ++i) expected.insert(prefix + "-0" + std::to_string(i));
  for (const auto& p : suite.prompts) {
    INFO(p.id);
    CHECK(p.id.rfind(kPrefix.at(p.category) + "-", 0) == 0);
    ids.insert(p.id);
  }
  CHECK(ids == expected);
}

TEST_CASE("every prompt of the answerable categories has a reference", "[prompt_suite][data]") {
  PromptSuite suite = shipped_suite();
  const std::set<std::string> answerable = {"mathematical_reasoning", "question_answering", "translation",
                                            "sentiment_analysis",     "logical_reasoning",  "general_knowledge",
                                            "science"};
  std::map<std::string, int> with_reference;
  for (const auto& p : suite.prompts) with_reference[p.category] += p.reference ? 1 : 0;
  for (const auto& c : answerable) {
    INFO(c);
    CHECK(with_reference[c] == 8);
  }
  CHECK(with_reference["instruction_following"] >= 4);
  CHECK(with_reference["creative_writing"] == 0);
}

TEST_CASE("every shipped reference is well formed for its rule", "[prompt_suite][data]") {
  PromptSuite suite = shipped_suite();
  for (const auto& p : suite.prompts) {
    if (!p.reference) continue;
    INFO(p.id);
    const Reference& r = *p.reference;
    switch (r.rule) {
      case Rule::number: CHECK(r.tolerance >= 0); break;
      case Rule::contains_any:
        REQUIRE_FALSE(r.any.empty());
        for (const auto& a : r.any) CHECK_FALSE(a.empty());
        break;
      case Rule::label:
        CHECK(std::find(r.labels.begin(), r.labels.end(), r.label) != r.labels.end());
        CHECK(r.labels.size() >= 2);
        break;
      case Rule::regex: CHECK_FALSE(r.pattern.empty()); break;
    }
    if (p.category == "sentiment_analysis") {
      CHECK(r.rule == Rule::label);
      CHECK(r.labels == std::vector<std::string>{"positive", "negative", "neutral"});
    }
    if (p.category == "mathematical_reasoning") CHECK(r.rule == Rule::number);
  }
}

TEST_CASE("the calibration set parses with its documented format", "[prompt_suite][data]") {
  auto doc = read_json(qrun::test::source_dir() / "datasets/calibration.json");
  CHECK(doc.at("schema") == "qrun.calibration");
  CHECK(doc.at("schema_version") == 1);
  CHECK(doc.at("license").get<std::string>().rfind("CC0-1.0", 0) == 0);
  const auto kinds = doc.at("kinds").get<std::set<std::string>>();
  const auto& texts = doc.at("texts");
  REQUIRE(texts.is_array());
  CHECK(texts.size() >= 64);
  std::set<std::string> ids, kinds_used, languages;
  for (const auto& t : texts) {
    const auto id = t.at("id").get<std::string>();
    INFO(id);
    CHECK(ids.insert(id).second);
    CHECK(kinds.count(t.at("kind").get<std::string>()) == 1);
    kinds_used.insert(t.at("kind").get<std::string>());
    CHECK_FALSE(t.at("language").get<std::string>().empty());
    const auto text = t.at("text").get<std::string>();
    CHECK(text.size() >= 80);
    CHECK(text.back() != '\n');
    if (t.at("kind") == "multilingual") languages.insert(t.at("language").get<std::string>());
    CHECK(t.size() == 4);  // id, kind, language, text: nothing else
  }
  CHECK(kinds_used == kinds);
  CHECK(languages.size() >= 10);
}
