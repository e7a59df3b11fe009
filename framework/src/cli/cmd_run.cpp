// qrun run EXPERIMENT.toml [--dry-run] [--set key=value]... [--fresh] [--output DIR]
// (`qrun EXPERIMENT.toml ...` is the same command.)
#include "cli/command.hpp"
#include "experiment/experiment.hpp"
#include "plan/plan.hpp"
#include "registry/registry.hpp"
#include "runner/runner.hpp"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun run EXPERIMENT.toml [--dry-run] [--set key=value]... [--fresh] [--output DIR]";

int run_run(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun run");
  desc.add_options()
      ("experiment", po::value<std::string>()->value_name("EXPERIMENT.toml"), "the experiment file")
      ("dry-run", "validate the experiment and print the plan; load no model")
      ("set", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(),
       "override a value before validation, e.g. --set model.path=/models/x --set 'metrics[0].max_length=64' "
       "(repeatable)")
      ("fresh", "ignore results.json in the output folder and recompute every cell")
      ("output", po::value<std::string>()->value_name("DIR"),
       "output folder (default: experiment.output_dir, else reports/<name>-<UTC start time>/); "
       "give the folder of an interrupted run to resume it")
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
  LoadOptions load;
  load.started = started;
  if (vm.count("set")) load.overrides = vm["set"].as<std::vector<std::string>>();
  const std::string file = vm["experiment"].as<std::string>();
  // The experiment's own plugin folders load with the others (after --plugin-path, before
  // QRUN_PLUGIN_PATH and the defaults), so its plugin names validate against them.
  auto experiment_dirs = experiment_plugin_paths(file, load);
  if (!experiment_dirs) return report_error(experiment_dirs.error());
  GlobalOptions with_experiment_dirs = global;
  with_experiment_dirs.plugin_paths.insert(with_experiment_dirs.plugin_paths.end(), experiment_dirs->begin(),
                                           experiment_dirs->end());
  Registry registry = load_registry(with_experiment_dirs);
  auto experiment = load_experiment(file, registry, load);
  if (!experiment) return report_error(experiment.error());
  if (vm.count("output")) {
    const std::string out = vm["output"].as<std::string>();
    if (out.empty()) return report_error(Error{"--output", "is empty", "name a folder, e.g. --output reports/my_run"});
    experiment->output_dir = out;
  }
  const Plan plan = make_plan(*experiment, load.overrides);
  if (vm.count("dry-run")) {
    std::cout << describe_plan(plan, registry);
    std::cout << "\nvalid; nothing was run (--dry-run)\n";
    return 0;
  }

  RunOptions options;
  options.fresh = vm.count("fresh") > 0;
  options.started = started;
  auto summary = run_experiment(plan, registry, options);
  if (!summary) return report_error(summary.error());
  spdlog::info("done: {} cells ({} computed, {} reused) in {}", summary->cells_total, summary->cells_computed,
               summary->cells_reused, summary->output_dir.string());
  std::cout << (summary->output_dir / "report.md").string() << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_run, {"run", "Run an experiment: results.json and report.md in its output folder", kUsage,
                           run_run});

}  // namespace qrun::cli
