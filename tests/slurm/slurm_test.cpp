// `qrun slurm` on a real one-node Slurm cluster (slurm_cluster.sh starts munged, slurmctld and
// slurmd on localhost for each case and stops them after): a job array of N shards plus the merge
// job depending on it gives results.json equal, cell for cell, to the unsharded run (N = 1, 2, 3,
// on the reduced stories260K study); a shard killed with SIGKILL mid-cell leaves the merge
// incomplete, and resubmitting the same command runs only the unfinished cells.
#include "../runner/shard_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <regex>

using namespace qrun::test;

namespace {

// The cluster for one test case. A cluster that does not come up fails the case with the
// script's message and the daemons' log tails.
struct SlurmCluster {
  std::filesystem::path dir;
  explicit SlurmCluster(const std::string& name) : dir(binary_dir() / "test-tmp" / name) {
    stop();  // daemons a crashed earlier run left behind (their pid files are in this folder)
    dir = temp_dir(name);
    auto r = run_command("bash " + quoted((source_dir() / "tests/slurm/slurm_cluster.sh").string()) + " start " +
                         quoted(dir.string()));
    if (r.exit_code != 0) {
      stop();
      FAIL("the test Slurm cluster did not start (tests/slurm/slurm_cluster.sh):\n" << r.output);
    }
    ::setenv("SLURM_CONF", (dir / "slurm.conf").c_str(), 1);
  }
  ~SlurmCluster() {
    stop();
    ::unsetenv("SLURM_CONF");
  }
  void stop() const {
    run_command("bash " + quoted((source_dir() / "tests/slurm/slurm_cluster.sh").string()) + " stop " + quoted(dir.string()));
  }
};

// The merge job id printed by `qrun slurm --submit`.
std::string merge_job(const std::string& output) {
  std::smatch m;
  REQUIRE(std::regex_search(output, m, std::regex("merge job: +([0-9]+)")));
  return m[1];
}

// "COMPLETED", "FAILED", ... once the job has ended; "" while it is pending or running.
std::string ended_state(const std::string& job) {
  auto r = run_command("scontrol show job " + job + " -o");
  std::smatch m;
  if (!std::regex_search(r.output, m, std::regex("JobState=([A-Z_]+)"))) return "UNKNOWN";
  const std::string s = m[1];
  return s == "PENDING" || s == "RUNNING" || s == "CONFIGURING" || s == "COMPLETING" ? "" : s;
}

std::string wait_job(const std::string& job, double seconds) {
  std::string state;
  wait_for([&] { return !(state = ended_state(job)).empty(); }, seconds);
  return state;
}

std::vector<std::string> study_sets(const std::filesystem::path& out) {
  return {"model.path=" + asset("models/stories260K").string(),
          "datasets[0].path=" + asset("datasets/wikitext-2-raw/wiki.test.raw").string(),
          "experiment.output_dir=" + out.string()};
}

std::string qrun_slurm(const std::filesystem::path& toml, const std::vector<std::string>& sets, const std::string& extra,
                       const std::string& env = "") {
  std::string cmd = env + " " + qrun_cmd("slurm " + quoted(toml.string()));
  for (const auto& s : sets) cmd += " --set " + quoted(s);
  return cmd + " " + extra;
}

}  // namespace

TEST_CASE("a Slurm array of 1, 2 and 3 shards with its merge job equals the unsharded run", "[slurm][slow]") {
  SlurmCluster cluster("slurm_arrays_cluster");
  const auto study = source_dir() / "tests/runner/stories_shard_study.toml";
  const auto dir = temp_dir("slurm_arrays_runs");
  auto straight = run_command(qrun_run(study, study_sets(dir / "whole")));
  INFO(straight.output);
  REQUIRE(straight.exit_code == 0);
  const auto reference = read_json(dir / "whole" / "results.json");

  std::map<int, std::string> merges;
  for (int n = 1; n <= 3; ++n) {  // all submitted at once; the cluster's 2 CPUs take them in turn
    auto r = run_command(qrun_slurm(study, study_sets(dir / ("array" + std::to_string(n))),
                                    "--shards " + std::to_string(n) + " --submit"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("array job:") != std::string::npos);
    merges[n] = merge_job(r.output);
  }
  for (const auto& [n, job] : merges) {
    INFO(n << " shards, merge job " << job);
    const std::filesystem::path out = dir / ("array" + std::to_string(n));
    CHECK(wait_job(job, 240) == "COMPLETED");
    const auto merged = read_json(out / "results.json");
    CHECK(merged["complete"] == true);
    CHECK(cell_values(merged) == cell_values(reference));
    CHECK(std::filesystem::exists(out / "report.md"));
    int logs = 0;
    for (const auto& e : std::filesystem::directory_iterator(out / "slurm" / "logs")) logs += e.path().extension() == ".log";
    CHECK(logs == n + 1);  // one per array task and the merge job's
  }
}

TEST_CASE("a Slurm shard killed mid-cell, resubmitted, runs only the unfinished cells", "[slurm][slow]") {
  SlurmCluster cluster("slurm_kill_cluster");
  RunFolder ref("slurm_kill_ref");
  REQUIRE(run_command(qrun_run(ref.toml, ref.overrides())).exit_code == 0);
  const auto reference = read_json(ref.out / "results.json");

  RunFolder f("slurm_kill");
  auto first = run_command(qrun_slurm(f.toml, f.overrides(), "--shards 2 --submit", "QRUN_TEST_HANG_ON=noisy"));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const std::string merge1 = merge_job(first.output);
  // The hanging cell's marker is the one still there a second and a half later (the others' cells
  // take milliseconds).
  std::filesystem::path hung;
  REQUIRE(wait_for(
      [&] {
        const auto before = running_markers(f.out);
        if (before.empty()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        for (const auto& p : running_markers(f.out))
          if (std::find(before.begin(), before.end(), p) != before.end()) hung = p;
        return !hung.empty();
      },
      120));
  const auto marker = read_json(hung);
  REQUIRE(run_command("kill -9 " + std::to_string(marker["pid"].get<long>())).exit_code == 0);
  CHECK(wait_job(merge1, 120) == "FAILED");  // afterany: the merge ran and found cells missing
  CHECK(read_json(f.out / "results.json")["complete"] == false);

  auto status = run_command(qrun_cmd("status " + quoted(f.out.string()) + " --json"));
  REQUIRE(status.exit_code == 0);
  const auto st = nlohmann::json::parse(status.output.substr(status.output.find('{')));
  std::multiset<std::string> unfinished;
  for (const auto& c : st["cells"])
    if (c["state"] != "finished") unfinished.insert(c["metric"].get<std::string>() + " " + c["variant"].get<std::string>());
  REQUIRE_FALSE(unfinished.empty());

  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto again = run_command(qrun_slurm(f.toml, f.overrides(), "--shards 2 --submit"));
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(wait_job(merge_job(again.output), 120) == "COMPLETED");
  const auto calls = f.calls();
  CHECK(std::multiset<std::string>(calls.begin(), calls.end()) == unfinished);
  const auto merged = read_json(f.out / "results.json");
  CHECK(merged["complete"] == true);
  CHECK(cell_values(merged) == cell_values(reference));
}
