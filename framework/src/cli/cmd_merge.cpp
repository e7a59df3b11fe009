// qrun merge RUN_DIR [--no-report]: results.json (and the report) of a run folder from its cells,
// e.g. after the shards of `qrun run --shard` or of a `qrun slurm` array. Computes nothing.
#include "cli/command.hpp"
#include "cli/run_setup.hpp"
#include "runner/runner.hpp"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun merge RUN_DIR [--no-report]";

int run_merge(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun merge");
  desc.add_options()("run_dir", po::value<std::string>()->value_name("RUN_DIR"), "the run folder")(
      "no-report", "write results.json only")("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("run_dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun merge", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "Assembles a run folder's cells into results.json and the report: " << kUsage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("run_dir")) return report_error(Error{"qrun merge", "no run folder given", std::string("usage: ") + kUsage});
  const std::filesystem::path dir = vm["run_dir"].as<std::string>();
  auto loaded = load_run_folder(dir, global);
  if (!loaded) return report_error(loaded.error());
  const Plan plan = make_plan(loaded->experiment, loaded->load.overrides);
  RunOptions options;
  options.write_report = vm.count("no-report") == 0;
  options.plugin_paths = loaded->plugin_paths;
  auto merged = merge_run(plan, loaded->registry, options);
  if (!merged) return report_error(merged.error());
  if (!merged->complete)
    return report_error(Error{dir.string(),
                              std::to_string(merged->cells_total - merged->cells_present) + " of " +
                                  std::to_string(merged->cells_total) + " cells are not done (results.json says which)",
                              "run the missing shards again (`qrun status " + dir.string() +
                                  "` lists them; resubmitting `qrun slurm ... --submit` runs only those)"});
  spdlog::info("merged {} cells into {}", merged->cells_present, merged->results_file.string());
  std::cout << (dir / (options.write_report ? "report.md" : "results.json")).string() << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_merge, {"merge", "Assemble a (sharded) run folder's cells into results.json and the report", kUsage,
                             run_merge});

}  // namespace qrun::cli
