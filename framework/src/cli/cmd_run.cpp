// qrun run EXPERIMENT.toml [--dry-run] [--set key=value]... [--fresh] [--new] [--output DIR]
//                          [--shard I/N] [--devices D1,D2,...]
// (`qrun EXPERIMENT.toml ...` is the same command.)
#include "cli/command.hpp"
#include "cli/run_setup.hpp"
#include "plan/plan.hpp"
#include "preflight/preflight.hpp"
#include "resources/run_lock.hpp"
#include "runner/runner.hpp"
#include "runner/workers.hpp"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun run EXPERIMENT.toml [--dry-run] [--set key=value]... [--fresh] [--new] [--output DIR] [--shard I/N] "
    "[--devices D1,D2,...]";

// The argument lists of one worker per device: this command for shard k/N of `run_dir`.
std::vector<runner::WorkerSpec> worker_specs(const std::vector<std::string>& devices, const std::string& file,
                                             const LoadedExperiment& e, const GlobalOptions& global, bool fresh) {
  std::vector<runner::WorkerSpec> out;
  const std::string exe = runner::self_executable().string();
  const std::filesystem::path dir = e.experiment.output_dir;
  for (std::size_t k = 0; k < devices.size(); ++k) {
    std::vector<std::string> argv = {exe, "--log-level", global.log_level};
    for (const auto& p : global.plugin_paths) argv.insert(argv.end(), {"--plugin-path", p.string()});
    argv.insert(argv.end(), {"run", file});
    for (const auto& o : e.load.overrides) argv.insert(argv.end(), {"--set", o});
    argv.insert(argv.end(), {"--output", dir.string(), "--shard",
                             std::to_string(k + 1) + "/" + std::to_string(devices.size()), "--device", devices[k]});
    if (fresh) argv.push_back("--fresh");
    out.push_back({devices[k], std::move(argv), dir / "logs" / ("worker-" + std::to_string(k + 1) + ".log")});
  }
  return out;
}

int run_run(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun run");
  desc.add_options()
      ("experiment", po::value<std::string>()->value_name("EXPERIMENT.toml"), "the experiment file")
      ("dry-run", "validate the experiment and print the plan; load no model")
      ("set", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(),
       "override a value before validation, e.g. --set model.path=/models/x --set 'metrics[0].max_length=64' "
       "(repeatable)")
      ("fresh", "recompute every cell (of this shard), even those the run folder holds")
      ("new", "start a new run folder instead of continuing the latest run of this experiment")
      ("output", po::value<std::string>()->value_name("DIR"),
       "run folder (default: experiment.output_dir, else the latest run of this file with these --set "
       "values, else reports/<name>-<UTC start time>/)")
      ("shard", po::value<std::string>()->value_name("I/N"),
       "compute only shard I of N (1 <= I <= N) of the cells; shards share the run folder; the last one to "
       "finish, or `qrun merge DIR`, writes the report")
      ("devices", po::value<std::string>()->value_name("D1,D2,..."),
       "one worker process per device (e.g. cuda:0,cuda:1), each computing its share of the cells")
      ("device", po::value<std::string>()->value_name("D"),
       "use this device for the model whatever the experiment says (what --devices gives each worker)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("experiment", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun run", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "Runs an experiment: " << kUsage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("experiment")) {
    return report_error(Error{"qrun run", "no experiment file given", std::string("usage: ") + kUsage});
  }

  const auto started = std::chrono::system_clock::now();
  const std::string file = vm["experiment"].as<std::string>();
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  auto loaded = load_for_run(file, overrides, global, started);
  if (!loaded) return report_error(loaded.error());
  if (vm.count("dry-run")) {
    const Plan plan = make_plan(loaded->experiment, loaded->load.overrides);
    if (auto checked = preflight(plan, loaded->registry); !checked) return report_error(checked.error());  // issue 18
    std::cout << describe_plan(plan, loaded->registry);
    std::cout << "\nvalid; nothing was run (--dry-run)\n";
    return 0;
  }
  std::optional<std::string> output;
  if (vm.count("output")) output = vm["output"].as<std::string>();
  auto resumed = choose_run_folder(*loaded, output, vm.count("new") > 0);
  if (!resumed) return report_error(resumed.error());

  RunOptions options;
  options.fresh = vm.count("fresh") > 0;
  options.started = started;
  options.plugin_paths = loaded->plugin_paths;
  if (vm.count("shard")) {
    auto shard = runner::parse_shard(vm["shard"].as<std::string>());
    if (!shard) return report_error(shard.error());
    options.shard = *shard;
  }
  if (vm.count("device")) options.device = vm["device"].as<std::string>();
  const Plan plan = make_plan(loaded->experiment, loaded->load.overrides);
  // Issue 18: model folder, datasets, output folder, memory and plugin checks before any cell.
  if (auto checked = preflight(plan, loaded->registry); !checked) return report_error(checked.error());

  if (vm.count("devices")) {
    if (vm.count("shard") || vm.count("device"))
      return report_error(Error{"--devices", "cannot be combined with --shard or --device",
                                "give --devices alone; each worker gets its shard and device"});
    auto devices = runner::parse_devices(vm["devices"].as<std::string>());
    if (!devices) return report_error(devices.error());
    auto workers = runner::run_workers(worker_specs(*devices, file, *loaded, global, options.fresh));
    auto merged = merge_run(plan, loaded->registry, options);
    if (!workers) return report_error(workers.error());
    if (!merged) return report_error(merged.error());
    spdlog::info("done: {} of {} cells in {} ({} workers)", merged->cells_present, merged->cells_total,
                 merged->output_dir.string(), devices->size());
    if (!merged->complete) return report_error(Error{merged->output_dir.string(), "is missing cells after every worker ended",
                                                     "see the workers' logs in its logs/ folder; run the command again"});
    std::cout << (merged->output_dir / "report.md").string() << "\n";
    return 0;
  }

  // One qrun per run folder (per shard of it), held until this process exits (issue 18).
  auto lock = RunLock::acquire(plan.output_dir, options.shard.whole() ? "" : std::to_string(options.shard.index) + "-of-" +
                                                                              std::to_string(options.shard.count));
  if (!lock) return report_error(lock.error());
  auto summary = run_experiment(plan, loaded->registry, options);
  if (!summary) return report_error(summary.error());
  spdlog::info("done: {} cells computed, {} reused{}; {} of {} cells in {}", summary->cells_computed, summary->cells_reused,
               options.shard.whole() ? "" : " in shard " + options.shard.text(), summary->cells_present,
               summary->cells_total, summary->output_dir.string());
  std::cout << (summary->complete ? (summary->output_dir / "report.md").string() : summary->output_dir.string()) << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_run, {"run", "Run an experiment (or one shard of it): cells, results.json and report.md in its run folder",
                           kUsage, run_run});

}  // namespace qrun::cli
