// `qrun run --shard`, `qrun merge`, `qrun status`, `--devices` and run folders continued without
// --output, as processes on the TEST-ONLY plugins (tests/runner/plugins): shards equal the
// unsharded run cell for cell, a shard killed mid-cell resumes with only its unfinished cells, an
// added variant computes only its own cells.
#include "shard_fixture.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun::test;

namespace {

// The unsharded run of a fresh RunFolder: its results.json.
nlohmann::json unsharded(const std::string& name) {
  RunFolder f(name);
  auto r = run_command(qrun_run(f.toml, f.overrides()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return read_json(f.out / "results.json");
}

}  // namespace

TEST_CASE("1, 2 and 3 shards merged give every cell value of the unsharded run", "[runner][shard][cli][slow]") {
  const nlohmann::json straight = unsharded("shard_equal_ref");
  REQUIRE(straight["complete"] == true);
  for (int n = 1; n <= 3; ++n) {
    RunFolder f("shard_equal_" + std::to_string(n));
    ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
    for (int i = 1; i <= n; ++i) {
      auto r = run_command(qrun_run(f.toml, f.overrides(), "--shard " + std::to_string(i) + "/" + std::to_string(n)));
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
    }
    auto m = run_command(qrun_cmd("merge " + quoted(f.out.string())));
    INFO(m.output);
    REQUIRE(m.exit_code == 0);
    const auto merged = read_json(f.out / "results.json");
    INFO(n << " shards");
    CHECK(merged["complete"] == true);
    CHECK(cell_values(merged) == cell_values(straight));
    CHECK(f.calls().size() == 9);  // every cell computed exactly once over all shards
    CHECK(cell_files(f.out).size() == 9);
    CHECK(std::filesystem::exists(f.out / "report.md"));
    CHECK(merged["provenance"]["sessions"].size() == static_cast<std::size_t>(n + 1));  // n shards + the merge
  }
}

TEST_CASE("the last shard to finish marks results complete and writes the report", "[runner][shard][cli]") {
  RunFolder f("shard_last_writes");
  auto first = run_command(qrun_run(f.toml, f.overrides(), "--shard 1/2"));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK(read_json(f.out / "results.json")["complete"] == false);
  CHECK_FALSE(std::filesystem::exists(f.out / "report.md"));
  CHECK(first.output.find("qrun merge") != std::string::npos);
  auto merge_early = run_command(qrun_cmd("merge " + quoted(f.out.string())));
  CHECK(merge_early.exit_code == 1);
  CHECK(merge_early.output.find("cells are not done") != std::string::npos);
  auto second = run_command(qrun_run(f.toml, f.overrides(), "--shard 2/2"));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK(read_json(f.out / "results.json")["complete"] == true);
  CHECK(std::filesystem::exists(f.out / "report.md"));
}

TEST_CASE("a shard killed with SIGKILL mid-cell and run again computes only its unfinished cells",
          "[runner][shard][resume][cli][slow]") {
  const nlohmann::json straight = unsharded("shard_kill_ref");
  RunFolder f("shard_kill");
  // Both shards at once; the one that owns "noisy / test_weight_sum" hangs inside that cell.
  const long a = start_background(qrun_run(f.toml, f.overrides(), "--shard 1/2", "QRUN_TEST_HANG_ON=noisy"), f.dir / "a.log");
  const long b = start_background(qrun_run(f.toml, f.overrides(), "--shard 2/2", "QRUN_TEST_HANG_ON=noisy"), f.dir / "b.log");
  REQUIRE(wait_for([&] { return !running_markers(f.out).empty() && (!process_alive(a) || !process_alive(b)); }, 60));
  const auto markers = running_markers(f.out);
  REQUIRE(markers.size() == 1);
  const auto marker = read_json(markers.front());
  const long victim = marker["pid"].get<long>();
  const std::string shard = marker["shard"].get<std::string>();
  REQUIRE(run_command("kill -9 " + std::to_string(victim)).exit_code == 0);
  REQUIRE(wait_for([&] { return !process_alive(a) && !process_alive(b); }, 30));

  auto status = run_command(qrun_cmd("status " + quoted(f.out.string()) + " --json --shards 2"));
  INFO(status.output);
  REQUIRE(status.exit_code == 0);
  const auto st = nlohmann::json::parse(status.output.substr(status.output.find('{')));
  std::multiset<std::string> unfinished;
  int interrupted = 0;
  for (const auto& c : st["cells"]) {
    if (c["state"] == "finished") continue;
    CHECK(std::to_string(c["shard"].get<int>()) + "/2" == shard);  // only the killed shard has work left
    unfinished.insert(c["metric"].get<std::string>() + " " + c["variant"].get<std::string>());
    interrupted += c["state"] == "interrupted";
  }
  CHECK(interrupted == 1);  // the cell it died in; the rest of its cells never started
  REQUIRE_FALSE(unfinished.empty());

  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto again = run_command(qrun_run(f.toml, f.overrides(), "--shard " + shard));
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  const auto calls = f.calls();
  CHECK(std::multiset<std::string>(calls.begin(), calls.end()) == unfinished);
  const auto merged = read_json(f.out / "results.json");
  CHECK(merged["complete"] == true);
  CHECK(cell_values(merged) == cell_values(straight));
  CHECK(running_markers(f.out).empty());
}

TEST_CASE("adding a variant to a finished experiment computes only that variant's cells", "[runner][resume][cli]") {
  RunFolder f("add_variant");
  // No --output: the run folder is reports/<name>-<time>/ under the current folder, found again
  // by the second run of the same file with the same --set values.
  const std::vector<std::string> sets = {"datasets[0].path=" + (f.dir / "data.txt").string()};
  const std::string cd = "cd " + quoted(f.dir.string()) + " && ";
  auto first = run_command(cd + qrun_run(f.toml, sets));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  std::vector<std::filesystem::path> folders;
  for (const auto& e : std::filesystem::directory_iterator(f.dir / "reports")) folders.push_back(e.path());
  REQUIRE(folders.size() == 1);
  const auto run_dir = folders.front();
  const auto before = cell_files(run_dir);
  REQUIRE(before.size() == 9);

  std::string toml = kRunToml;
  toml.replace(toml.find("[[metrics]]"), 0, "[[variants]]\nname = \"coarse\"\ntransforms = [{use = \"test_quant\", step = 0.5}]\n\n");
  std::ofstream(f.toml) << toml;
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto second = run_command(cd + qrun_run(f.toml, sets));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("continuing the latest run") != std::string::npos);
  CHECK(second.output.find("12 cells in the plan, 9 already done, 3 to compute") != std::string::npos);
  CHECK(f.calls() == std::vector<std::string>{"test_weight_sum coarse", "test_data coarse", "test_diff coarse"});
  const auto after = cell_files(run_dir);
  CHECK(after.size() == 12);
  for (const auto& [name, time] : before) {
    INFO(name);
    REQUIRE(after.count(name));
    CHECK(after.at(name) == time);  // the old cells were not written again
  }
  const auto doc = read_json(run_dir / "results.json");
  CHECK(doc["complete"] == true);
  CHECK(doc["variants"].size() == 4);
  REQUIRE(doc["provenance"]["sessions"].size() == 2);
  CHECK(doc["provenance"]["sessions"][0]["kind"] == "start");
  CHECK(doc["provenance"]["sessions"][1]["kind"] == "resume");
  std::ifstream report(run_dir / "report.md");
  const std::string md((std::istreambuf_iterator<char>(report)), {});
  CHECK(md.find("Session (resume)") != std::string::npos);

  auto fresh = run_command(cd + qrun_run(f.toml, sets, "--new"));
  INFO(fresh.output);
  REQUIRE(fresh.exit_code == 0);
  CHECK(fresh.output.find("12 cells in the plan, 0 already done, 12 to compute") != std::string::npos);
  CHECK(std::distance(std::filesystem::directory_iterator(f.dir / "reports"), std::filesystem::directory_iterator()) == 2);
}

TEST_CASE("a changed parameter recomputes only the cells it affects", "[runner][resume][cli]") {
  RunFolder f("changed_param");
  REQUIRE(run_command(qrun_run(f.toml, f.overrides())).exit_code == 0);
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto r = run_command(qrun_run(f.toml, f.overrides({"variants[2].transforms[0].step=0.5"})));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(f.calls() == std::vector<std::string>{"test_weight_sum quant", "test_data quant", "test_diff quant"});
}

TEST_CASE("option --devices runs one worker per device and their cells equal the unsharded run", "[runner][devices][cli][slow]") {
  const nlohmann::json straight = unsharded("devices_ref");
  RunFolder f("devices");
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto r = run_command(qrun_run(f.toml, f.overrides(), "--devices cpu,cpu"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("worker 1 on cpu started") != std::string::npos);
  CHECK(r.output.find("worker 2 on cpu started") != std::string::npos);
  CHECK(std::filesystem::exists(f.out / "logs" / "worker-1.log"));
  CHECK(std::filesystem::exists(f.out / "logs" / "worker-2.log"));
  CHECK(f.calls().size() == 9);
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["complete"] == true);
  CHECK(cell_values(doc) == cell_values(straight));
  std::set<std::string> shards;
  for (const auto& s : doc["provenance"]["sessions"]) shards.insert(s["shard"].get<std::string>());
  CHECK(shards == std::set<std::string>{"", "1/2", "2/2"});  // two workers and the merge
}

TEST_CASE("qrun status lists every cell as finished after a run", "[runner][status][cli]") {
  RunFolder f("status_done");
  REQUIRE(run_command(qrun_run(f.toml, f.overrides())).exit_code == 0);
  auto r = run_command(qrun_cmd("status " + quoted(f.out.string())));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("9 cells: 9 finished") != std::string::npos);
  CHECK(r.output.find("noisy / test_diff") != std::string::npos);
  auto bad = run_command(qrun_cmd("status " + quoted(f.dir.string())));
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("is not a qrun run folder") != std::string::npos);
}

TEST_CASE("a malformed --shard is one error with the fix", "[runner][shard][cli][errors]") {
  RunFolder f("shard_bad");
  auto r = run_command(qrun_run(f.toml, f.overrides(), "--shard 4/3"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("error: --shard: '4/3' is out of range; fix: write it as I/N") != std::string::npos);
}
