// Partial and unusual documents render (never crash); structurally broken ones give one Error.
#include "fixture.hpp"

#include "report/report.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;
using nlohmann::json;

TEST_CASE("an incomplete run carries the INCOMPLETE RUN banner right under the title", "[report]") {
  auto doc = golden_results();
  doc["complete"] = false;
  doc["variants"][2]["complete"] = false;
  doc["variants"][2]["metrics"].erase("speed");
  std::string md = render_md(doc);
  auto banner = md.find("INCOMPLETE RUN");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < md.find("\n## "));  // before the first section
  CHECK(md.find("2 of 3 variants finished.") != std::string::npos);
  CHECK(md.find("Missing cells (variant: metrics): nf4: speed.") != std::string::npos);
  CHECK(md.find("Not marked complete: nf4.") != std::string::npos);
  CHECK(render_md(golden_results()).find("INCOMPLETE RUN") == std::string::npos);
}

TEST_CASE("a document marked complete that lacks a cell is still reported as incomplete", "[report]") {
  auto doc = golden_results();
  doc["variants"][1]["metrics"].erase("prompt_suite");  // flags untouched: complete stays true
  std::string md = render_md(doc);
  auto banner = md.find("INCOMPLETE RUN");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < md.find("\n## "));
  CHECK(md.find("This results document is marked complete but is not") != std::string::npos);
  CHECK(md.find("Missing cells (variant: metrics): int8: prompt_suite.") != std::string::npos);
}

TEST_CASE("the error that stopped a run is quoted in the INCOMPLETE RUN banner", "[report]") {
  auto doc = golden_results();
  doc["complete"] = false;
  doc["error"] = "speed (metric speed on nf4): out of memory; fix: lower batch_size";
  doc["variants"][2]["complete"] = false;
  doc["variants"][2]["metrics"].erase("speed");
  std::string md = render_md(doc);
  auto banner = md.find("The run stopped with: `speed (metric speed on nf4): out of memory; fix: lower batch_size`.");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < md.find("\n## "));
}

TEST_CASE("missing metrics, storage and provenance render as dashes and n/a", "[report]") {
  auto doc = golden_results();
  doc["variants"][1]["metrics"].erase("kl_divergence");
  for (auto& v : doc["variants"]) v["metrics"].erase("speed");
  doc["variants"][2].erase("storage");
  doc["variants"][0]["metrics"].erase("perplexity");
  doc["provenance"] = json::object();
  std::string md = render_md(doc);
  CHECK(md.find("## speed") == std::string::npos);
  auto row = table_row(md, "## perplexity", "nf4");
  REQUIRE(row.size() >= 2);
  CHECK(row[1] == "13.42 ± 0.09580");
  auto crit = table_row(md, "## Harm indicators and defense success criteria", "`max_decode_slowdown`");
  REQUIRE(crit.size() == 4);
  CHECK(crit[2].rfind("n/a (", 0) == 0);
  CHECK(table_row(md, "## Variants", "**nf4**").at(5) == "—");
}

TEST_CASE("per-category tables show the prompt suite's headline values and name the others", "[report]") {
  std::string md = render_md(golden_results());
  auto header = table_row(md, "### prompt_suite per category: nf4", "Category");
  CHECK(header == std::vector<std::string>{"Category", "success", "mean time", "tokens/s", "accuracy", "agreement",
                                           "mean KL", "same top p"});
  CHECK(md.find("Also recorded per category in results.json (not tabulated here): `prefix_agreement`, `dp_rms`.") !=
        std::string::npos);
  CHECK(md.find("Δ harm per category, prefix agreement") == std::string::npos);
}

TEST_CASE("an unknown metric gets a generic section with its values and groups", "[report]") {
  auto doc = golden_results();
  json v = {{"name", "zorp"}, {"value", 3.5}, {"stderr", nullptr}, {"n", 7}, {"unit", "widgets"}, {"better", "higher"}, {"group", ""}};
  json g = v;
  g["group"] = "left";
  doc["variants"][0]["metrics"]["mystery"] = {{"use", "mystery"}, {"values", {v, g}}, {"method", "Counts widgets."}};
  v["value"] = 7.0;
  g["value"] = 1.0;
  doc["variants"][1]["metrics"]["mystery"] = {{"use", "mystery"}, {"values", {v, g}}};
  std::string md = render_md(doc);
  auto row = table_row(md, "## mystery", "int8");
  REQUIRE(row.size() == 4);
  CHECK(row[1] == "7.000 widgets");
  CHECK(row[2] == "+100.00 %");
  auto harm = table_row(md, "### mystery: Δ harm per category, zorp (higher is better)", "left");
  REQUIRE(harm.size() == 4);
  CHECK(harm[3] == "+2.500 widgets");  // higher is better: 3.5 -> 1.0 is 2.5 widgets worse
  CHECK(md.find("Counts widgets.") != std::string::npos);
}

TEST_CASE("a document with no variants and no experiment still renders", "[report]") {
  json doc = {{"schema_version", 1}, {"variants", json::array()}, {"complete", true}};
  std::string md = render_md(doc);
  CHECK(md.rfind("# qrun harm report\n", 0) == 0);
  CHECK(md.find("no variants") != std::string::npos);
}

TEST_CASE("non-finite values render as n/a instead of breaking tables", "[report]") {
  auto doc = golden_results();
  doc["variants"][1]["metrics"]["perplexity"]["values"][0]["value"] = nullptr;  // how JSON stores NaN
  std::string md = render_md(doc);
  auto row = table_row(md, "## perplexity", "int8");
  REQUIRE(row.size() == 4);
  CHECK(row[1] == "n/a (nan)");
  CHECK(row[2] == "—");
}

TEST_CASE("structurally broken documents give an error naming the key", "[report]") {
  auto bad = golden_results();
  bad["schema_version"] = 2;
  auto r = render_json(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "results schema_version");
  CHECK_FALSE(r.error().fix.empty());

  bad = golden_results();
  bad["variants"][1].erase("name");
  r = render_json(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "results variants[1].name");

  bad = golden_results();
  bad["variants"][1]["baseline"] = true;
  r = render_json(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "results variants");

  bad = golden_results();
  bad["variants"][0]["metrics"]["perplexity"]["values"][0]["value"] = "12";
  r = render_json(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "results variants[0].metrics.perplexity.values[0].value");

  r = render_json(json::array());
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("report files are written with report.md last and no stray temp files", "[report]") {
  auto dir = temp_dir("report_write");
  auto files = render_json(golden_results());
  REQUIRE(files.ok());
  REQUIRE(qrun::write_report_files(dir, *files).ok());
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++n;
    CHECK(e.path().filename().string()[0] != '.');
  }
  CHECK(n == files->size());
  auto last = std::filesystem::last_write_time(dir / "report.md");
  for (const auto& f : *files) CHECK(std::filesystem::last_write_time(dir / f.name) <= last);
  auto bad = qrun::write_report_files(dir, {{"../escape.md", "x"}});
  REQUIRE_FALSE(bad.ok());
}
