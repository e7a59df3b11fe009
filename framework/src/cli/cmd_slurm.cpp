// qrun slurm EXPERIMENT.toml [--shards N] [--partition P] [--gpus-per-task G] [--cpus-per-task C]
//   [--mem M] [--time T] [--account A] [--array-max K] [--sbatch-arg ARG]... [--set k=v]...
//   [--output DIR | --new] [--submit]
// Writes <run folder>/slurm/shards.sbatch (a job array: task I runs `qrun run --shard I/N` of the
// run folder) and merge.sbatch (`qrun merge`, submitted with --dependency=afterany on the array),
// logs in <run folder>/slurm/logs/. With --submit it calls sbatch and prints the job ids.
// Submitting again continues the same run folder: every shard computes only its unfinished cells.
#include "cli/command.hpp"
#include "cli/run_setup.hpp"
#include "runner/cell_key.hpp"
#include "runner/provenance.hpp"
#include "runner/run_folder.hpp"
#include "runner/workers.hpp"
#include "results/results.hpp"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun slurm EXPERIMENT.toml [--shards N] [--partition P] [--gpus-per-task G] [--time T] [--account A] "
    "[--array-max K] [--sbatch-arg ARG]... [--set key=value]... [--output DIR | --new] [--submit]";

// A word for a bash script, single-quoted.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Script {
  std::vector<std::string> directives;  // "#SBATCH ..." lines
  std::string command;
};

std::string render(const Script& s) {
  std::string out = "#!/bin/bash\n# Written by qrun slurm; submit with sbatch.\n";
  for (const auto& d : s.directives) out += "#SBATCH " + d + "\n";
  out += "set -euo pipefail\n";
  out += "cd " + quote(std::filesystem::current_path().string()) + "\n";
  out += s.command + "\n";
  return out;
}

// stdout of a command (trailing newline removed) and its exit status.
std::pair<int, std::string> capture(const std::string& cmd) {
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "cannot start: " + cmd};
  std::array<char, 256> buf{};
  std::string out;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  const int rc = ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return {rc, out};
}

// "12345" or "12345;cluster" from sbatch --parsable.
Result<std::string> submit(const std::filesystem::path& script, const std::string& extra) {
  auto [rc, out] = capture("sbatch --parsable " + extra + quote(script.string()));
  if (rc != 0)
    return Error{"sbatch " + script.string(), out.empty() ? "failed" : out,
                 "check that Slurm's sbatch is on PATH and the partition/account options are valid for this cluster"};
  const auto semi = out.find(';');
  const auto nl = out.find_last_of('\n');
  std::string id = nl == std::string::npos ? out : out.substr(nl + 1);
  return semi == std::string::npos ? id : id.substr(0, id.find(';'));
}

int run_slurm(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun slurm");
  desc.add_options()
      ("experiment", po::value<std::string>()->value_name("EXPERIMENT.toml"), "the experiment file")
      ("shards", po::value<int>()->value_name("N"), "array tasks (default: one per variant)")
      ("partition", po::value<std::string>()->value_name("P"), "sbatch --partition")
      ("gpus-per-task", po::value<int>()->value_name("G"), "sbatch --gpus-per-task")
      ("cpus-per-task", po::value<int>()->value_name("C"), "sbatch --cpus-per-task")
      ("mem", po::value<std::string>()->value_name("M"), "sbatch --mem, e.g. 32G")
      ("time", po::value<std::string>()->value_name("T"), "sbatch --time per task, e.g. 02:00:00")
      ("account", po::value<std::string>()->value_name("A"), "sbatch --account")
      ("array-max", po::value<int>()->value_name("K"), "at most K tasks at once (--array=1-N%K)")
      ("sbatch-arg", po::value<std::vector<std::string>>()->value_name("ARG")->composing(),
       "one more #SBATCH line for both jobs, e.g. --sbatch-arg=--qos=high (repeatable)")
      ("set", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(), "as for qrun run")
      ("output", po::value<std::string>()->value_name("DIR"), "run folder (as for qrun run)")
      ("new", "start a new run folder instead of continuing the latest run of this experiment")
      ("submit", "submit the array and the merge job with sbatch (else only write the scripts)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("experiment", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun slurm", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "Runs an experiment as a Slurm job array plus a merge job: " << kUsage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("experiment")) return report_error(Error{"qrun slurm", "no experiment file given", std::string("usage: ") + kUsage});
  const std::string file = vm["experiment"].as<std::string>();
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  auto loaded = load_for_run(file, overrides, global, std::chrono::system_clock::now());
  if (!loaded) return report_error(loaded.error());
  std::optional<std::string> output;
  if (vm.count("output")) output = vm["output"].as<std::string>();
  auto resumed = choose_run_folder(*loaded, output, vm.count("new") > 0);
  if (!resumed) return report_error(resumed.error());
  const std::filesystem::path dir = std::filesystem::absolute(loaded->experiment.output_dir).lexically_normal();
  const int shards = vm.count("shards") ? vm["shards"].as<int>() : static_cast<int>(loaded->experiment.variants.size());
  if (shards < 1) return report_error(Error{"--shards", "must be at least 1", "give the number of array tasks, e.g. --shards 4"});

  // The array's command: this qrun, the same plugin folders, experiment and overrides.
  std::string qrun = quote(runner::self_executable().string()) + " --log-level " + global.log_level;
  for (const auto& p : loaded->plugin_paths) qrun += " --plugin-path " + quote(p);
  std::string run = qrun + " run " + quote(std::filesystem::absolute(file).string());
  for (const auto& o : loaded->load.overrides) run += " --set " + quote(o);
  run += " --output " + quote(dir.string()) + " --shard \"${SLURM_ARRAY_TASK_ID}/" + std::to_string(shards) + "\"";

  std::vector<std::string> common;
  if (vm.count("partition")) common.push_back("--partition=" + vm["partition"].as<std::string>());
  if (vm.count("account")) common.push_back("--account=" + vm["account"].as<std::string>());
  if (vm.count("sbatch-arg"))
    for (const auto& a : vm["sbatch-arg"].as<std::vector<std::string>>()) common.push_back(a);
  const std::filesystem::path sdir = dir / "slurm";
  Script array{{"--job-name=qrun-" + loaded->experiment.name,
                "--array=1-" + std::to_string(shards) +
                    (vm.count("array-max") ? "%" + std::to_string(vm["array-max"].as<int>()) : ""),
                "--ntasks=1", "--output=" + (sdir / "logs" / "shard-%a-job-%A.log").string()},
               "exec " + run};
  if (vm.count("gpus-per-task")) array.directives.push_back("--gpus-per-task=" + std::to_string(vm["gpus-per-task"].as<int>()));
  if (vm.count("cpus-per-task")) array.directives.push_back("--cpus-per-task=" + std::to_string(vm["cpus-per-task"].as<int>()));
  if (vm.count("mem")) array.directives.push_back("--mem=" + vm["mem"].as<std::string>());
  if (vm.count("time")) array.directives.push_back("--time=" + vm["time"].as<std::string>());
  Script merge{{"--job-name=qrun-" + loaded->experiment.name + "-merge", "--ntasks=1",
                "--output=" + (sdir / "logs" / "merge-job-%j.log").string()},
               "exec " + qrun + " merge " + quote(dir.string())};
  for (const auto& c : common) {
    array.directives.push_back(c);
    merge.directives.push_back(c);
  }
  if (auto r = write_text_atomic(sdir / "shards.sbatch", render(array)); !r) return report_error(r.error());
  if (auto r = write_text_atomic(sdir / "merge.sbatch", render(merge)); !r) return report_error(r.error());
  std::filesystem::create_directories(sdir / "logs");
  // A session makes the folder the latest run of this experiment before any task starts.
  auto session = runner::write_session(dir, runner::make_identity(file, loaded->load.overrides), loaded->plugin_paths, "",
                                       std::string("submit"));
  if (!session) return report_error(session.error());
  std::cout << "run folder: " << dir.string() << (*resumed ? " (continued)" : "") << "\n"
            << "array:      " << (sdir / "shards.sbatch").string() << " (" << shards << " shards)\n"
            << "merge:      " << (sdir / "merge.sbatch").string() << "\n";
  if (!vm.count("submit")) {
    std::cout << "not submitted; with --submit, or: sbatch --parsable " << (sdir / "shards.sbatch").string()
              << " then sbatch --dependency=afterany:<array id> " << (sdir / "merge.sbatch").string() << "\n";
    return 0;
  }
  auto array_id = submit(sdir / "shards.sbatch", "");
  if (!array_id) return report_error(array_id.error());
  auto merge_id = submit(sdir / "merge.sbatch", "--dependency=afterany:" + *array_id + " ");
  if (!merge_id) return report_error(merge_id.error());
  const nlohmann::json record = {{"array_job", *array_id}, {"merge_job", *merge_id}, {"shards", shards},
                                 {"submitted", runner::utc_timestamp(std::chrono::system_clock::now())}};
  (void)write_json_atomic(sdir / ("submitted-" + *array_id + ".json"), record);
  std::cout << "array job:  " << *array_id << "\nmerge job:  " << *merge_id << "\n"
            << "follow with: qrun status " << dir.string() << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_slurm, {"slurm", "Run an experiment as a Slurm job array of shards plus a dependent merge job", kUsage,
                             run_slurm});

}  // namespace qrun::cli
