// A malformed prompt-suite file is refused with one Error naming the prompt and the field.
#include "suite_file.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun::prompt_suite;

namespace {

// A one-category suite whose single prompt has `prompt_json` as its body.
std::filesystem::path write_suite(const std::string& name, const std::string& prompts_json) {
  auto dir = qrun::test::temp_dir("prompt_suite_errors_" + name);
  auto path = dir / "suite.json";
  std::ofstream(path) << R"({"schema": "qrun.prompt_suite", "schema_version": 1, "name": "t", "license": "CC0-1.0",
    "categories": ["math", "logic"], "prompts": [)" << prompts_json << "]}";
  return path;
}

const char* kLogicPrompt = R"({"id": "l-1", "category": "logic", "prompt": "Is it? Answer yes or no."})";

qrun::Error load_error(const std::filesystem::path& path) {
  auto suite = load_prompt_suite(path);
  REQUIRE_FALSE(suite.ok());
  return suite.error();
}

}  // namespace

TEST_CASE("a well-formed small suite loads", "[prompt_suite][errors]") {
  auto path = write_suite("ok", std::string(R"({"id": "m-1", "category": "math", "prompt": "1+1?",
      "reference": {"rule": "number", "value": 2, "tolerance": 0.5}}, )") + kLogicPrompt);
  auto suite = load_prompt_suite(path);
  if (!suite) FAIL(suite.error().message());
  REQUIRE(suite->prompts.size() == 2);
  CHECK(suite->prompts[0].reference->tolerance == 0.5);
  CHECK_FALSE(suite->prompts[1].reference.has_value());
}

TEST_CASE("a duplicate prompt id is refused naming the prompt", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("dup", std::string(kLogicPrompt) + ", " +
                                             R"({"id": "l-1", "category": "math", "prompt": "x"})"));
  CHECK(e.thing.find("prompts[1] (l-1).id") != std::string::npos);
  CHECK_FALSE(e.fix.empty());
}

TEST_CASE("an unknown matching rule is refused with the nearest rule as the fix", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("rule", std::string(R"({"id": "m-1", "category": "math", "prompt": "x",
      "reference": {"rule": "numbr", "value": 2}}, )") + kLogicPrompt));
  CHECK(e.thing.find("(m-1).reference.rule") != std::string::npos);
  CHECK(e.fix.find("number") != std::string::npos);
}

TEST_CASE("a label missing from its label list is refused", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("label", std::string(R"({"id": "m-1", "category": "math", "prompt": "x",
      "reference": {"rule": "label", "label": "maybe", "labels": ["yes", "no"]}}, )") + kLogicPrompt));
  CHECK(e.thing.find("(m-1).reference.label") != std::string::npos);
}

TEST_CASE("a regex that does not compile is refused when the suite loads", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("regex", std::string(R"({"id": "m-1", "category": "math", "prompt": "x",
      "reference": {"rule": "regex", "pattern": "(unclosed"}}, )") + kLogicPrompt));
  CHECK(e.thing.find("(m-1).reference.pattern") != std::string::npos);
  CHECK(e.fix == "correct the pattern");
}

TEST_CASE("an unknown category is refused with the nearest category", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("category", std::string(R"({"id": "m-1", "category": "maths", "prompt": "x"}, )") +
                                                  kLogicPrompt));
  CHECK(e.thing.find("(m-1).category") != std::string::npos);
  CHECK(e.fix.find("\"math\"") != std::string::npos);
}

TEST_CASE("a field a rule does not have is refused", "[prompt_suite][errors]") {
  auto e = load_error(write_suite("field", std::string(R"({"id": "m-1", "category": "math", "prompt": "x",
      "reference": {"rule": "number", "value": 2, "any": ["2"]}}, )") + kLogicPrompt));
  CHECK(e.thing.find("(m-1).reference.any") != std::string::npos);
}

TEST_CASE("a file of another schema version is refused", "[prompt_suite][errors]") {
  auto dir = qrun::test::temp_dir("prompt_suite_errors_version");
  std::ofstream(dir / "suite.json") << R"({"schema": "qrun.prompt_suite", "schema_version": 2})";
  auto e = load_error(dir / "suite.json");
  CHECK(e.thing.find("schema_version") != std::string::npos);
  CHECK(e.fix.find("version 1") != std::string::npos);
}

TEST_CASE("selecting an unknown category names the known ones", "[prompt_suite][errors]") {
  auto suite = load_prompt_suite(write_suite("select", std::string(R"({"id": "m-1", "category": "math", "prompt": "x"}, )") +
                                                           kLogicPrompt));
  REQUIRE(suite.ok());
  auto selected = select_prompts(*suite, {"logik"}, 0);
  REQUIRE_FALSE(selected.ok());
  CHECK(selected.error().thing == "prompt_suite.categories");
  CHECK(selected.error().fix.find("\"logic\"") != std::string::npos);
}

TEST_CASE("limit_per_category keeps the first prompts of each selected category", "[prompt_suite]") {
  auto suite = load_prompt_suite(write_suite("limit", R"({"id": "m-1", "category": "math", "prompt": "x"},
      {"id": "m-2", "category": "math", "prompt": "y"}, {"id": "l-1", "category": "logic", "prompt": "z"},
      {"id": "l-2", "category": "logic", "prompt": "w"})"));
  REQUIRE(suite.ok());
  auto one_each = select_prompts(*suite, {}, 1);
  REQUIRE(one_each.ok());
  REQUIRE(one_each->size() == 2);
  CHECK((*one_each)[0].id == "m-1");
  CHECK((*one_each)[1].id == "l-1");
  auto logic = select_prompts(*suite, {"logic"}, 0);
  REQUIRE(logic.ok());
  REQUIRE(logic->size() == 2);
  CHECK((*logic)[1].id == "l-2");
}
