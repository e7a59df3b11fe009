// `qrun run` end to end as a process, on the TEST-ONLY plugins: a run killed after some cells and
// started again reuses them; --dry-run prints the plan and runs nothing.
#include "run_fixture.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

std::string qrun_cmd(const RunFolder& f, const std::string& env, const std::string& extra = "") {
  std::string cmd = env + " '" + qrun_exe().string() + "' --plugin-path '" QRUN_TEST_PLUGIN_DIR "' run '" +
                    f.toml.string() + "'";
  for (const auto& o : f.overrides()) cmd += " --set '" + o + "'";
  return cmd + " " + extra;
}

}  // namespace

TEST_CASE("a run killed after one variant reuses that variant when started again", "[runner][resume][cli]") {
  RunFolder f("cli_kill_resume");
  const std::string counter = "QRUN_TEST_COUNTER='" + f.counter.string() + "'";
  // SIGKILL inside the metric on the second variant: no cleanup code runs in the process.
  auto killed = run_command(qrun_cmd(f, counter + " QRUN_TEST_KILL_ON=noisy"));
  INFO(killed.output);
  REQUIRE(killed.exit_code != 0);
  const auto partial = read_json(f.out / "results.json");
  CHECK(partial["complete"] == false);
  CHECK(partial["variants"][0]["metrics"].size() == 3);  // base's cells were persisted
  CHECK(partial["variants"][1]["metrics"].empty());
  CHECK_FALSE(std::filesystem::exists(f.out / "report.md"));

  std::filesystem::remove(f.counter);
  auto resumed = run_command(qrun_cmd(f, counter));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  const auto calls = f.calls();
  CHECK(std::count(calls.begin(), calls.end(), "test_weight_sum base") == 0);
  CHECK(std::count(calls.begin(), calls.end(), "test_data base") == 0);
  CHECK(std::count(calls.begin(), calls.end(), "test_weight_sum noisy") == 1);
  CHECK(std::count(calls.begin(), calls.end(), "test_diff base") == 0);
  CHECK(std::count(calls.begin(), calls.end(), "test_diff noisy") == 1);
  CHECK(read_json(f.out / "results.json")["complete"] == true);
  CHECK(std::filesystem::exists(f.out / "report.md"));
}

TEST_CASE("option --dry-run prints every variant's chain and writes nothing", "[runner][cli]") {
  RunFolder f("cli_dry_run");
  auto r = run_command(qrun_cmd(f, "", "--dry-run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("base  [baseline]") != std::string::npos);
  CHECK(r.output.find("quantizer test_quant") != std::string::npos);
  CHECK(r.output.find("step = 0.25") != std::string::npos);
  CHECK(r.output.find("valid; nothing was run (--dry-run)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(f.out));
}

TEST_CASE("qrun EXPERIMENT.toml with a malformed file exits non-zero with one positioned error", "[runner][cli]") {
  RunFolder f("cli_bad_toml");
  std::ofstream(f.toml, std::ios::app) << "\n[[variants]]\nname = \"base\"\n";
  auto r = run_command("'" + qrun_exe().string() + "' --plugin-path '" QRUN_TEST_PLUGIN_DIR "' '" + f.toml.string() + "'");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("error: " + f.toml.string() + ":38:8 variants[3].name: 'base' is already the name of another variant") !=
        std::string::npos);
}
