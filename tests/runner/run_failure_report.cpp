// A run that stops on a failing cell: results.json says why, and the partial report.md says so
// at the top (never mistaken for a finished study).
#include "run_fixture.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace qrun::test;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* const kFailure =
    "test_weight_sum (metric test_weight_sum on quant) variant quant: failing on request (QRUN_TEST_FAIL_ON); "
    "fix: unset QRUN_TEST_FAIL_ON";

}  // namespace

TEST_CASE("a run stopped by a failing cell records the error and writes a report marked incomplete at the top",
          "[runner][report][errors]") {
  RunFolder f("failure_report");
  std::string cmd = "QRUN_TEST_FAIL_ON=quant '" + qrun_exe().string() + "' --plugin-path '" QRUN_TEST_PLUGIN_DIR "' run '" +
                    f.toml.string() + "'";
  for (const auto& o : f.overrides()) cmd += " --set '" + o + "'";
  auto r = run_command(cmd);
  INFO(r.output);
  REQUIRE(r.exit_code != 0);

  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["complete"] == false);
  CHECK(doc["error"] == kFailure);

  REQUIRE(std::filesystem::exists(f.out / "report.md"));
  const std::string md = slurp(f.out / "report.md");
  const auto first_section = md.find("\n## ");
  const auto banner = md.find("> **⚠ INCOMPLETE RUN.**");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < first_section);
  CHECK(md.find(std::string("The run stopped with: `") + kFailure + "`.") < first_section);
  // Cells run variant by variant: base and noisy are whole, quant stopped at its first cell.
  CHECK(md.find("Missing cells (variant: metrics): quant: test_weight_sum, test_data, test_diff.") < first_section);
  CHECK(md.find("2 of 3 variants finished.") < first_section);
}
