// The `qrun report` and `qrun compare` commands end to end (needs the qrun executable).
#include "fixture.hpp"

#include "report/report.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace qrun::test;

namespace {
std::string golden_path() { return (source_dir() / "tests/report/golden/results.json").string(); }
}  // namespace

TEST_CASE("qrun report writes report.md and its charts into the -o folder", "[report][cli]") {
  auto dir = temp_dir("report_cli");
  auto r = run_command(qrun_exe().string() + " report " + golden_path() + " -o " + (dir / "out.md").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto expected = render_json(golden_results());
  REQUIRE(expected.ok());
  for (const auto& f : *expected) {
    fs::path p = dir / (f.name == "report.md" ? "out.md" : f.name);
    REQUIRE(fs::exists(p));
    CHECK(read_file(p.string()) == f.content);
  }
}

TEST_CASE("qrun report defaults to report.md beside the results file", "[report][cli]") {
  auto dir = temp_dir("report_cli_default");
  fs::copy_file(golden_path(), dir / "results.json");
  auto r = run_command(qrun_exe().string() + " report " + (dir / "results.json").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(dir / "report.md"));
  CHECK(fs::exists(dir / "chart_size.svg"));
}

TEST_CASE("qrun report on a missing file fails with one error line", "[report][cli]") {
  auto r = run_command(qrun_exe().string() + " report /nonexistent/results.json");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("error: /nonexistent/results.json") != std::string::npos);
}

TEST_CASE("qrun compare writes a side-by-side report with the given labels", "[report][cli]") {
  auto dir = temp_dir("report_cli_compare");
  auto r = run_command(qrun_exe().string() + " compare " + golden_path() + " " + golden_path() + " -o " +
                       (dir / "cmp.md").string() + " --labels undefended,defended");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file((dir / "cmp.md").string()).rfind("# Comparison: undefended vs defended\n", 0) == 0);
  auto bad = run_command(qrun_exe().string() + " compare " + golden_path() + " --labels x");
  CHECK(bad.exit_code != 0);
}
