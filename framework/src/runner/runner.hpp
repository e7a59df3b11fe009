// The run: Plan -> results.json (+ report). Loads the baseline through the backend, builds each
// variant as a copy of it with its transform chain, runs per-model metrics on each variant and
// comparison metrics in lockstep, and persists results.json after every finished cell so that a
// killed run, started again with the same experiment and output folder, reuses what is done.
#pragma once

#include "plan/plan.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace qrun {

class Registry;

struct RunOptions {
  bool fresh = false;  // ignore an existing results.json in the output folder
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  bool write_report = true;  // render report.md (+ charts) into the output folder at the end
};

struct RunSummary {
  std::filesystem::path output_dir;
  std::filesystem::path results_file;
  int cells_total = 0;     // (variant, metric) pairs
  int cells_reused = 0;    // taken from an earlier run's results.json
  int cells_computed = 0;
};

// Runs the plan; `registry` makes its plugins. Writes <plan.output_dir>/results.json (and report.md).
Result<RunSummary> run_experiment(const Plan& plan, const Registry& registry, const RunOptions& options = {});

// The parts of the experiment JSON that decide the numbers (everything but output_dir and
// report), used to decide whether an existing results.json may be resumed.
nlohmann::json resume_key(const nlohmann::json& experiment_json);

}  // namespace qrun
