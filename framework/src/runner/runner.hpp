// The run: Plan -> cells -> results.json (+ report). The plan's cells (cell_key.hpp) that this
// process owns (all of them, or one shard's: shard.hpp) and that the run folder's cell store does
// not hold yet are computed: the baseline through the backend, each variant as a copy of it with
// its transform chain, and one metric call per cell (a comparison metric gets the baseline and
// that one variant; every process builds the baseline itself, so a shard's numbers equal the
// unsharded run's). Each finished cell is published as its own file, then results.json is
// assembled again from every cell in the folder. When the folder holds every cell of the plan,
// results.json is marked complete and the report is written (by whichever process gets there:
// the unsharded run, the last shard, or `qrun merge`).
#pragma once

#include "plan/plan.hpp"
#include "runner/shard.hpp"

#include <qrun/error.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun {

class Registry;

struct RunOptions {
  bool fresh = false;  // recompute this process's cells even when the folder holds them
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  bool write_report = true;  // render report.md (+ charts) once every cell is there
  runner::Shard shard;       // the cells to compute: shard I of N (default 1/1: all)
  std::optional<std::string> device;      // replaces the backend's "device" parameter (worker processes)
  std::vector<std::string> plugin_paths;  // the --plugin-path folders, recorded for `qrun merge`/`status`
};

struct RunSummary {
  std::filesystem::path output_dir;
  std::filesystem::path results_file;
  int cells_total = 0;     // (variant, metric) cells of the plan
  int cells_owned = 0;     // of those, this shard's
  int cells_reused = 0;    // this shard's cells already in the folder
  int cells_computed = 0;
  int cells_present = 0;   // cells of the plan in the folder at the end (all shards)
  bool complete = false;   // every cell present: results.json complete, report written
};

// Runs the plan; `registry` makes its plugins. Writes <plan.output_dir>/cells/, sessions/,
// results.json (and report.md when complete).
Result<RunSummary> run_experiment(const Plan& plan, const Registry& registry, const RunOptions& options = {});

// Assembles results.json (and, when every cell is present and `write_report`, the report) from
// the cells in plan.output_dir without computing anything; records a "merge" session.
Result<RunSummary> merge_run(const Plan& plan, const Registry& registry, const RunOptions& options = {});

}  // namespace qrun
