// Faults as tests (issue 18, items 5 and 6), on the TEST-ONLY plugins (fast runs):
//   - SIGKILL / SIGTERM at many moments of a run: results.json is always valid JSON, "complete"
//     only when every cell is there, no report.md beside an incomplete document, and the run
//     resumes to completion afterwards;
//   - a write that fails (RLIMIT_FSIZE: EFBIG on every file past the limit) and a nearly full
//     tmpfs (when this process may mount one): a clear error, exit code 1, nothing complete;
//   - a read-only output folder: refused before the first cell;
//   - two runs on one folder: the run lock names the holder; started together, one waits its turn
//     or is refused, and the folder ends complete;
//   - HF_TOKEN in the environment never appears in the output, results.json or the report.
#include "bad_input_fixture.hpp"
#include "resources/run_lock.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <regex>

using namespace qrun::test;

namespace {

const std::string kToml = R"([experiment]
name = "faults"
seed = 11

[model]
use = "test_backend"
hidden = 6

[[datasets]]
name = "text"
path = "data.txt"

[[variants]]
name = "base"

[[variants]]
name = "noisy"
transforms = [{use = "test_noise", std = 0.1}]

[[variants]]
name = "quant"
transforms = [{use = "test_quant", step = 0.25}]

[[metrics]]
use = "test_weight_sum"

[[metrics]]
use = "test_data"
dataset = "text"

[[metrics]]
use = "test_diff"
)";

// dir/exp.toml and dir/data.txt; qrun runs in dir with output `out`.
std::string run_in(const fs::path& dir, const fs::path& out, const std::string& env = "") {
  write_text(dir / "exp.toml", kToml);
  write_text(dir / "data.txt", "some text for the dataset\n");
  // exec: the shell's pid becomes qrun's, so a signal sent to it reaches qrun itself.
  return "cd " + quoted(dir) + " && " + env + " exec " + quoted(qrun_exe()) + " --plugin-path '" QRUN_TEST_PLUGIN_DIR
         "' run exp.toml --output " + quoted(out);
}

// The run folder's state is one a reader may trust: results.json parses; "complete" implies
// every variant holds every metric; report.md only beside a complete document.
void check_consistent(const fs::path& out) {
  if (!fs::exists(out / "results.json")) {
    CHECK_FALSE(fs::exists(out / "report.md"));
    return;
  }
  const auto j = nlohmann::json::parse(read_all(out / "results.json"), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  if (j.value("complete", false)) {
    REQUIRE(j["variants"].size() == 3);
    for (const auto& v : j["variants"]) CHECK(v["metrics"].size() >= 2);
  } else {
    CHECK_FALSE(fs::exists(out / "report.md"));
  }
}

bool try_mount_tmpfs(const fs::path& where, bool read_only, const std::string& size) {
  fs::create_directories(where);
  const std::string options = "size=" + size;
  return ::mount("tmpfs", where.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) == 0;
}

}  // namespace

TEST_CASE("a run killed by SIGKILL or SIGTERM at any moment leaves a consistent folder that resumes", "[reliability][faults][slow]") {
  // Catch runs the test case once per DYNAMIC_SECTION, so a count across sections would be reset
  // each time: instead the earliest delay (the process is still loading the model at 0.05 s) must
  // be a run the signal stopped; later ones may finish first on a fast machine.
  for (const char* signal : {"KILL", "TERM"}) {
    for (const char* delay : {"0.05", "0.4", "1.0", "2.0", "2.5", "3.0", "3.5", "4.5", "6.0"}) {
      DYNAMIC_SECTION(signal << " after " << delay << " s") {
        const fs::path dir = temp_dir(std::string("fault_sig_") + signal + "_" + delay);
        const fs::path out = dir / "out";
        const auto r = run_command("(" + run_in(dir, out) + ") >" + quoted(dir / "log.txt") + " 2>&1 & pid=$!; sleep " +
                                   delay + "; kill -" + signal + " $pid 2>/dev/null; wait $pid; echo rc=$?");
        INFO(r.output << read_all(dir / "log.txt"));
        if (std::string(delay) == "0.05") CHECK(r.output.find("rc=0") == std::string::npos);
        check_consistent(out);
        // Whatever the moment, the same command finishes the run.
        const auto again = run_command(run_in(dir, out));
        INFO(again.output);
        REQUIRE(again.exit_code == 0);
        check_consistent(out);
        CHECK(nlohmann::json::parse(read_all(out / "results.json"))["complete"] == true);
      }
    }
  }
}

TEST_CASE("a write that fails mid-run (file size limit) is a clear error and leaves nothing complete", "[reliability][faults]") {
  const fs::path dir = temp_dir("fault_fsize");
  const fs::path out = dir / "out";
  // 8 KiB per file: the experiment's results.json is larger; SIGXFSZ ignored so write() gets EFBIG.
  const auto r = run_command("trap '' XFSZ; ulimit -f 8; " + run_in(dir, out));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  const auto errors = error_lines(r.output);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("File too large") != std::string::npos);
  check_consistent(out);
  CHECK(complete_results(dir).empty());
}

TEST_CASE("a full file system is refused before the first cell", "[reliability][faults]") {
  const fs::path dir = temp_dir("fault_disk_full");
  const fs::path mnt = dir / "small";
  if (::geteuid() != 0 || !try_mount_tmpfs(mnt, false, "64k")) {
    WARN("cannot mount a tmpfs here (needs root); the file-size-limit case covers failing writes");
    return;
  }
  const auto r = run_command(run_in(dir, mnt / "out"));
  ::umount(mnt.c_str());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  const auto errors = error_lines(r.output);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith(mnt.string() + ": its file system has ") &&
                            Catch::Contains("KiB free; a run needs at least 16 MiB") &&
                            Catch::EndsWith("; fix: free disk space, or choose another --output DIR"));
}

TEST_CASE("a read-only output folder is refused before the first cell", "[reliability][faults]") {
  const fs::path dir = temp_dir("fault_read_only");
  const fs::path ro = dir / "ro";
  bool mounted = ::geteuid() == 0 && try_mount_tmpfs(ro, true, "1m");
  if (!mounted) {
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  }
  const auto r = run_command(run_in(dir, ro / "out"));
  if (mounted) ::umount(ro.c_str());
  else fs::permissions(ro, fs::perms::owner_all);
  INFO(r.output);
  CHECK(r.exit_code == 1);
  const auto errors = error_lines(r.output);
  REQUIRE(errors.size() == 1);
  const std::string reason = mounted ? "Read-only file system" : "Permission denied";
  CHECK(errors[0] == ro.string() + ": is not writable (" + reason +
                         "); the output folder would be created in it; fix: choose a writable --output DIR");
}

TEST_CASE("a second run on a locked folder is refused with the holder's pid and host", "[reliability][faults][lock]") {
  const fs::path dir = temp_dir("fault_lock");
  const fs::path out = dir / "out";
  auto lock = qrun::RunLock::acquire(out);
  REQUIRE(lock.ok());
  const auto r = run_command(run_in(dir, out));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  const auto errors = error_lines(r.output);
  REQUIRE(errors.size() == 1);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  CHECK(errors[0] == out.string() + ": another qrun is writing this folder (pid " + std::to_string(::getpid()) +
                         " on host " + host + "); fix: wait for it to finish, or pass another --output DIR");
  CHECK_FALSE(fs::exists(out / "results.json"));
  // Once released, the same folder runs (the lock file left behind does not block).
  { auto released = std::move(*lock); }
  const auto again = run_command(run_in(dir, out));
  INFO(again.output);
  CHECK(again.exit_code == 0);
}

TEST_CASE("a shard lock: two different shards share a folder, the same shard twice does not", "[reliability][faults][lock]") {
  const fs::path out = temp_dir("fault_lock_shards") / "out";
  auto one = qrun::RunLock::acquire(out, "1-of-2");
  REQUIRE(one.ok());
  auto two = qrun::RunLock::acquire(out, "2-of-2");
  CHECK(two.ok());
  auto again = qrun::RunLock::acquire(out, "1-of-2");
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.error().reason, Catch::StartsWith("another qrun is writing this folder (pid "));
  auto whole = qrun::RunLock::acquire(out);
  CHECK_FALSE(whole.ok());  // a whole run cannot start beside shards
}

TEST_CASE("two runs started together on one folder: at most one computes at a time, the folder ends complete", "[reliability][faults][lock]") {
  const fs::path dir = temp_dir("fault_concurrent");
  const fs::path out = dir / "out";
  const std::string cmd = run_in(dir, out);
  const auto r = run_command("(" + cmd + ") >" + quoted(dir / "a.txt") + " 2>&1 & a=$!; (" + cmd + ") >" +
                             quoted(dir / "b.txt") + " 2>&1 & b=$!; wait $a; echo a=$?; wait $b; echo b=$?");
  const std::string a = read_all(dir / "a.txt"), b = read_all(dir / "b.txt");
  INFO(r.output << "\n--- a ---\n" << a << "\n--- b ---\n" << b);
  const bool one_succeeded = r.output.find("a=0") != std::string::npos || r.output.find("b=0") != std::string::npos;
  CHECK(one_succeeded);
  for (const std::string* log : {&a, &b}) {
    const auto errors = error_lines(*log);
    for (const auto& e : errors) CHECK_THAT(e, Catch::Contains("another qrun is writing this folder"));
  }
  check_consistent(out);
  if (!nlohmann::json::parse(read_all(out / "results.json"))["complete"]) {
    CHECK(run_command(cmd).exit_code == 0);
  }
  CHECK(nlohmann::json::parse(read_all(out / "results.json"))["complete"] == true);
}

TEST_CASE("HF_TOKEN from the environment appears in no log, results.json or report", "[reliability][secrets]") {
  const std::string token = "hf_qrunReliabilitySecretToken0123456789";
  const fs::path dir = temp_dir("secrets_hf_token");
  const fs::path out = dir / "out";
  const auto r = run_command(run_in(dir, out, "HF_TOKEN=" + token + " HUGGING_FACE_HUB_TOKEN=" + token) +
                             " && cd " + quoted(dir) + " && HF_TOKEN=" + token + " " + quoted(qrun_exe()) +
                             " --log-level debug --plugin-path '" QRUN_TEST_PLUGIN_DIR "' run exp.toml --dry-run");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find(token) == std::string::npos);
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (!e.is_regular_file()) continue;
    INFO(e.path());
    CHECK(read_all(e.path()).find(token) == std::string::npos);
  }
  // A hub id that cannot be fetched here (no network, or no such repository): the error names the
  // model, never the token.
  make_model(dir);
  make_experiment(dir);
  const auto hub = run_command("cd " + quoted(dir) + " && HF_HUB_OFFLINE=0 HF_HOME=" + quoted(dir / "hf_home") +
                               " HF_TOKEN=" + token + " timeout 60 " + quoted(qrun_exe()) + " --log-level debug run " +
                               quoted(dir / "exp.toml") + " --set model.path=qrun-no-such-org/no-such-model");
  INFO(hub.output);
  CHECK(hub.exit_code == 1);
  CHECK(hub.output.find(token) == std::string::npos);
  CHECK(hub.output.find("hf_qrun") == std::string::npos);
}
