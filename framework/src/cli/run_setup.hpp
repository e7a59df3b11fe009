// What `qrun run`, `slurm`, `merge` and `status` share: loading an experiment with its overrides
// and plugin folders, and choosing its run folder (an explicit --output; the file's
// experiment.output_dir; else the most recent run folder of the same file with the same
// overrides, which is resumed; else, or with --new, a new reports/<name>-<UTC time>/).
#pragma once

#include "cli/command.hpp"
#include "experiment/experiment.hpp"
#include "plan/plan.hpp"
#include "registry/registry.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun::cli {

struct LoadedExperiment {
  Registry registry;
  Experiment experiment;
  LoadOptions load;                       // overrides and start time
  std::vector<std::string> plugin_paths;  // global --plugin-path folders (recorded in sessions)
};

Result<LoadedExperiment> load_for_run(const std::string& file, std::vector<std::string> overrides,
                                      const GlobalOptions& global, std::chrono::system_clock::time_point started);

// Sets e.experiment.output_dir as described above; returns true when an earlier run folder was
// found and is continued (and logs it).
Result<bool> choose_run_folder(LoadedExperiment& e, const std::optional<std::string>& output, bool new_run);

// The experiment a run folder was run with (its latest session): registry with the session's
// plugin folders, overrides, output_dir = `run_dir`.
Result<LoadedExperiment> load_run_folder(const std::filesystem::path& run_dir, const GlobalOptions& global);

}  // namespace qrun::cli
