// Changing one number in results.json changes the cells that show it, and only those.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace qrun::test;

namespace {

nlohmann::json& value_of(nlohmann::json& doc, int variant, const std::string& metric, const std::string& name,
                         const std::string& group = "") {
  for (auto& v : doc["variants"][variant]["metrics"][metric]["values"])
    if (v["name"] == name && v["group"] == group) return v;
  FAIL("fixture has no " << metric << "." << name << " in variant " << variant);
  return doc;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("the golden perplexity row shows value, stderr and the change vs the baseline", "[report]") {
  auto row = table_row(render_md(golden_results()), "## perplexity", "nf4");
  REQUIRE(row.size() == 4);
  CHECK(row[1] == "13.42 ± 0.09580");
  CHECK(row[2] == "+4.41 %");  // 100 * (13.4177 - 12.8512) / 12.8512 = 4.408
  CHECK(row[3] == "299078");
}

TEST_CASE("changing one variant's perplexity changes its cells and nothing unrelated", "[report]") {
  auto doc = golden_results();
  std::string before = render_md(doc);
  value_of(doc, 2, "perplexity", "ppl")["value"] = 14.1355;  // nf4
  std::string after = render_md(doc);

  auto row = table_row(after, "## perplexity", "nf4");
  REQUIRE(row.size() == 4);
  CHECK(row[1] == "14.14 ± 0.09580");
  CHECK(row[2] == "+9.99 %");  // 100 * (14.1355 - 12.8512) / 12.8512 = 9.9936
  CHECK(table_row(after, "## perplexity", "int8") == table_row(before, "## perplexity", "int8"));
  auto crit = table_row(after, "## Harm indicators and defense success criteria", "`max_ppl_increase_pct`");
  REQUIRE(crit.size() == 4);
  CHECK(crit[3] == "**FAIL** 9.994 % (perplexity)");  // 9.99 % > the fixture's 5 % threshold

  // Every changed line is one that shows nf4's perplexity or depends on it.
  auto a = lines(before), b = lines(after);
  REQUIRE(a.size() == b.size());
  int changed = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    ++changed;
    INFO("changed line: " << b[i]);
    bool related = b[i].find("nf4") != std::string::npos ||                     // nf4's rows, bars, summary
                   b[i].find("max_ppl_increase_pct") != std::string::npos ||    // its criterion
                   b[i].rfind("int8 █", 0) == 0 ||                             // ΔPPL bars share one scale
                   b[i].rfind("| **all criteria**", 0) == 0;                    // the verdict totals
    CHECK(related);
  }
  CHECK(changed >= 4);
}

TEST_CASE("changing a category's KL changes that category's cells", "[report]") {
  auto doc = golden_results();
  value_of(doc, 1, "prompt_suite", "kl_mean", "translation")["value"] = 0.25;  // int8
  std::string md = render_md(doc);
  auto row = table_row(md, "### prompt_suite per category: int8", "translation");
  REQUIRE(row.size() == 8);  // Category + success, mean time, tokens/s, accuracy, agreement, mean KL, same top p
  CHECK(row[6] == "0.2500 ± 0.0005200 nats");
  auto harm = table_row(md, "### prompt_suite: Δ harm per category, mean KL (lower is better)", "translation");
  REQUIRE(harm.size() == 4);
  CHECK(harm[3] == "-0.1939 nats");  // nf4 0.0561 - int8 0.25: nf4 now less harmful than int8 here
  auto crit = table_row(md, "## Harm indicators and defense success criteria", "`max_category_kl`");
  REQUIRE(crit.size() == 4);
  CHECK(crit[2] == "**FAIL** 0.2500 nats (prompt_suite / translation)");
}
