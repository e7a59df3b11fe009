// qrun compare: side-by-side report when the baselines are shared; an error when they are not.
#include "fixture.hpp"

#include "report/report.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

std::string comparison_md(const nlohmann::json& a, const nlohmann::json& b) {
  auto files = compare_json(a, b, "undefended", "defended");
  if (!files) FAIL(files.error().message());
  return files->back().content;
}

}  // namespace

TEST_CASE("a comparison shows both documents' values and the change between them", "[report][compare]") {
  auto a = golden_results();
  auto b = golden_results();
  b["variants"][2]["metrics"]["perplexity"]["values"][0]["value"] = 13.1;  // defended nf4
  std::string md = comparison_md(a, b);
  CHECK(md.rfind("# Comparison: undefended vs defended\n", 0) == 0);
  auto row = table_row(md, "### perplexity", "nf4");
  REQUIRE(row.size() == 6);
  CHECK(row[1] == "PPL");
  CHECK(row[2] == "13.42 ± 0.09580");
  CHECK(row[3] == "13.10 ± 0.09580");
  CHECK(row[4] == "-2.37 %");   // 100 * (13.1 - 13.4177) / 13.4177
  CHECK(row[5] == "-0.3177");   // lower is better: defended is 0.3177 less harmful
}

TEST_CASE("a comparison charts both documents' perplexity change as two series", "[report][compare]") {
  auto files = compare_json(golden_results(), golden_results(), "A", "B");
  REQUIRE(files.ok());
  REQUIRE(files->size() == 2);
  CHECK(files->front().name == "compare_perplexity_ppl_delta.svg");
  CHECK(files->back().name == "report.md");
}

TEST_CASE("comparing runs of different model files is refused", "[report][compare]") {
  auto b = golden_results();
  b["provenance"]["model"]["files"]["model.safetensors"] = "00";
  auto r = compare_json(golden_results(), b, "A", "B");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "compare A vs B");
  CHECK(r.error().reason.find("model.safetensors") != std::string::npos);
  CHECK_FALSE(r.error().fix.empty());
}

TEST_CASE("comparing runs whose baseline metrics are configured differently is refused", "[report][compare]") {
  auto b = golden_results();
  b["variants"][0]["metrics"]["perplexity"]["params"]["stride"] = 256;
  auto r = compare_json(golden_results(), b, "A", "B");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "compare A vs B metric perplexity");
}

TEST_CASE("comparison labels must be two different names", "[report][compare]") {
  auto r = compare_json(golden_results(), golden_results(), "A", "A");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "compare --labels");
}
