// qrun status RUN_DIR [--json]: every cell of the run folder's experiment, finished / running /
// failed / interrupted / pending, with who computed it, and the sessions that worked on it.
#include "cli/command.hpp"
#include "cli/run_setup.hpp"
#include "runner/cell_key.hpp"
#include "runner/cell_store.hpp"
#include "runner/run_folder.hpp"
#include "runner/shard.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <iostream>
#include <map>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun status RUN_DIR [--json]";

struct CellState {
  std::string state, detail;
};

CellState state_of(const runner::CellStore& store, const std::string& key) {
  if (auto c = store.read(key); c && *c) {
    const auto& w = (*c)->computed;
    return {"finished", fmt::format("{} {}{}{:.1f} s", w.value("finished", ""), w.value("host", ""),
                                    w.value("shard", "").empty() ? " " : " shard " + w.value("shard", "") + " ",
                                    w.value("seconds", 0.0))};
  }
  if (auto r = store.running(key)) {
    const std::string who = r->host + " pid " + std::to_string(r->pid) + (r->job.empty() ? "" : " job " + r->job) +
                            (r->shard.empty() ? "" : " shard " + r->shard) + " since " + r->started;
    if (runner::marker_process_gone(*r)) return {"interrupted", who + " (process gone)"};
    return {"running", who};
  }
  if (auto f = store.failed(key)) return {"failed", f->error + " (" + f->host + (f->shard.empty() ? "" : " shard " + f->shard) + ")"};
  return {"pending", ""};
}

int run_status(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun status");
  desc.add_options()("run_dir", po::value<std::string>()->value_name("RUN_DIR"), "the run folder")(
      "json", "print JSON: {\"cells\": [{variant, metric, key, shard, state, detail}], \"counts\": {...}}")(
      "shards", po::value<int>()->value_name("N"), "show which of N shards owns each cell (default: the N of the folder's latest sharded session)")("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("run_dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun status", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "Shows the state of every cell of a run folder: " << kUsage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("run_dir")) return report_error(Error{"qrun status", "no run folder given", std::string("usage: ") + kUsage});
  const std::filesystem::path dir = vm["run_dir"].as<std::string>();
  auto loaded = load_run_folder(dir, global);
  if (!loaded) return report_error(loaded.error());
  const Plan plan = make_plan(loaded->experiment, loaded->load.overrides);
  auto cells = runner::plan_cells(plan, loaded->registry, dir / ".hashes");
  if (!cells) return report_error(cells.error());
  // Without --shards: the shard count of the folder's latest sharded session, if any.
  int shards = 1;
  if (vm.count("shards")) shards = std::max(1, vm["shards"].as<int>());
  else
    for (const auto& s : runner::read_sessions(dir))
      if (auto parsed = runner::parse_shard(s.record.shard); !s.record.shard.empty() && parsed) shards = parsed->count;
  const std::vector<int> owner = runner::assign_shards(plan, cells->cells, shards);
  const runner::CellStore store(dir);

  std::map<std::string, int> counts;
  nlohmann::json out = {{"run_dir", dir.string()}, {"cells", nlohmann::json::array()}};
  std::string text;
  for (std::size_t i = 0; i < cells->cells.size(); ++i) {
    const auto& pc = cells->cells[i];
    const CellState s = state_of(store, pc.key);
    ++counts[s.state];
    out["cells"].push_back({{"variant", plan.variants[pc.variant].name}, {"metric", plan.metrics[pc.metric].label},
                            {"key", pc.key}, {"shard", owner[i]}, {"state", s.state}, {"detail", s.detail}});
    text += fmt::format("  {:<40} {:<11} {}{}\n", runner::cell_name(plan, pc), s.state,
                        shards > 1 ? fmt::format("[shard {}/{}] ", owner[i], shards) : "", s.detail);
  }
  out["counts"] = counts;
  if (vm.count("json")) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "run folder " << dir.string() << " (" << loaded->experiment.file.string() << ")\n";
  for (const auto& s : runner::read_sessions(dir))
    std::cout << "  " << s.record.kind << " " << s.record.started << " on " << s.record.host
              << (s.record.shard.empty() ? "" : " shard " + s.record.shard) << (s.record.job.empty() ? "" : " job " + s.record.job)
              << "\n";
  std::cout << "cells:\n" << text;
  std::string summary;
  for (const auto& [state, n] : counts) summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  std::cout << cells->cells.size() << " cells: " << summary << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_status, {"status", "Show which cells of a run folder are finished, running, failed or pending",
                              kUsage, run_status});

}  // namespace qrun::cli
