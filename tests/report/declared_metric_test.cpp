// A new metric plugin gets its table, charts and criterion from its declarations alone: the
// TEST-ONLY test_weight_stats (tests/report/plugins, unknown to framework/src/report) runs
// through the real `qrun run` on the TEST-ONLY backend, and `qrun report` regenerates the same
// report from results.json without that plugin.
#include "fixture.hpp"

#include "report/format.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

namespace fs = std::filesystem;
using namespace qrun::test;

namespace {

const char* const kToml = R"([experiment]
name = "weight_stats"
seed = 3

[model]
use = "test_backend"
hidden = 8

[[variants]]
name = "base"

[[variants]]
name = "coarse"
transforms = [{use = "test_quant", step = 0.5}]

[[metrics]]
use = "test_weight_stats"
max_layers = 1

[report]
title = "Weight statistics of Qwen2.5-0.5B-Instruct"
max_large_weight_pct = 40
)";

std::string quote(const std::string& s) { return "'" + s + "'"; }

struct Run {
  fs::path dir;
  CommandResult result{1, ""};
  std::string md;
  nlohmann::json results;
};

const Run& weight_stats_run() {
  static Run run = [] {
    Run r;
    r.dir = temp_dir("report_declared_metric");
    std::ofstream(r.dir / "exp.toml") << kToml;
    r.result = run_command(quote(qrun_exe().string()) + " --plugin-path " + quote(QRUN_TEST_PLUGIN_DIR) +
                           " --plugin-path " + quote(QRUN_REPORT_TEST_PLUGIN_DIR) + " run " +
                           quote((r.dir / "exp.toml").string()) + " --set metrics[0].threshold=0.5 --output " +
                           quote((r.dir / "out").string()));
    if (fs::exists(r.dir / "out/report.md")) r.md = read_file((r.dir / "out/report.md").string());
    if (fs::exists(r.dir / "out/results.json"))
      r.results = nlohmann::json::parse(read_file((r.dir / "out/results.json").string()));
    return r;
  }();
  return run;
}

}  // namespace

TEST_CASE("a metric the report has never heard of gets its own table from its declarations", "[report][declared]") {
  const Run& run = weight_stats_run();
  INFO(run.result.output);
  REQUIRE(run.result.exit_code == 0);
  const auto header = table_row(run.md, "## test_weight_stats", "Variant");
  CHECK(header == std::vector<std::string>{"Variant", "weight RMS", "Δ weight RMS vs baseline", "large weights",
                                           "Δ large weights vs baseline", "n"});
  const double pct = run.results["variants"][1]["metrics"]["test_weight_stats"]["values"][1]["value"];
  const auto coarse = table_row(run.md, "## test_weight_stats", "coarse");
  REQUIRE(coarse.size() == 6);
  CHECK(coarse[3] == qrun::report::fmt_num(pct) + " %");  // the declared unit, not the record's empty one
  // The record carries the declaration's unit and direction (the runner fills them in).
  CHECK(run.results["variants"][1]["metrics"]["test_weight_stats"]["values"][1]["unit"] == "%");
  CHECK(run.results["declarations"]["test_weight_stats"]["values"][1]["criteria"][0]["key"] == "max_large_weight_pct");
}

TEST_CASE("a declared metric gets the charts its values ask for", "[report][declared]") {
  const Run& run = weight_stats_run();
  REQUIRE(run.result.exit_code == 0);
  for (const char* file : {"chart_test_weight_stats_weight_rms.svg", "chart_test_weight_stats_large_weight_pct_delta.svg"}) {
    INFO(file);
    CHECK(fs::exists(run.dir / "out" / file));
    CHECK(run.md.find(std::string("](") + file + ")") != std::string::npos);
  }
  CHECK(run.md.find("### RMS of the linear weights (test_weight_stats)\n") != std::string::npos);
  CHECK(run.md.find("### Share of linear weights above the threshold change vs base (test_weight_stats)\n") !=
        std::string::npos);
}

TEST_CASE("a declared criterion is validated, judged and defined in the report", "[report][declared]") {
  const Run& run = weight_stats_run();
  REQUIRE(run.result.exit_code == 0);
  const double pct = run.results["variants"][1]["metrics"]["test_weight_stats"]["values"][1]["value"];
  const auto row = table_row(run.md, "## Harm indicators and defense success criteria", "`max_large_weight_pct`");
  REQUIRE(row.size() == 3);
  CHECK(row[1] == "≤ 40 %");
  CHECK(row[2] == std::string(pct <= 40 ? "pass " : "**FAIL** ") + qrun::report::fmt_num(pct) + " % (test_weight_stats)");
  const auto def = table_row(run.md, "### Criteria definitions", "`max_large_weight_pct` (set)");
  REQUIRE(def.size() == 5);
  CHECK(def[4] == "`test_weight_stats.large_weight_pct`");
  // Without the plugin, its criterion key is unknown to the experiment validator.
  auto r = run_command(quote(qrun_exe().string()) + " --plugin-path " + quote(QRUN_TEST_PLUGIN_DIR) + " run " +
                       quote((run.dir / "exp.toml").string()) + " --dry-run");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("test_weight_stats") != std::string::npos);
}

TEST_CASE("qrun report regenerates a declared metric's report without its plugin", "[report][declared]") {
  const Run& run = weight_stats_run();
  REQUIRE(run.result.exit_code == 0);
  const fs::path again = run.dir / "again";
  auto r = run_command(quote(qrun_exe().string()) + " report " + quote((run.dir / "out/results.json").string()) + " -o " +
                       quote((again / "report.md").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file((again / "report.md").string()) == run.md);
  CHECK(read_file((again / "chart_test_weight_stats_weight_rms.svg").string()) ==
        read_file((run.dir / "out/chart_test_weight_stats_weight_rms.svg").string()));
}

TEST_CASE("the run's report says it was reduced, lists --set and names the model that ran", "[report][declared]") {
  const Run& run = weight_stats_run();
  REQUIRE(run.result.exit_code == 0);
  CHECK(run.md.rfind("# Weight statistics of Qwen2.5-0.5B-Instruct (run on `test_backend`, not a model this title names)\n", 0) == 0);
  const auto banner = run.md.find("> **⚠ REDUCED RUN.**");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < run.md.find("\n## "));
  CHECK(run.md.find("> - `test_weight_stats`: the first 1 of 2 linear layers (max_layers=1)") != std::string::npos);
  CHECK(std::regex_search(run.md, std::regex(R"(\n\| Overrides \(`--set`\) +\| `metrics\[0\]\.threshold=0\.5` +\|\n)")));
  CHECK(run.results["provenance"]["overrides"] == nlohmann::json::array({"metrics[0].threshold=0.5"}));
}
