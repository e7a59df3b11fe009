// Loading an experiment for a run and choosing its run folder.
#include "cli/run_setup.hpp"

#include "runner/provenance.hpp"
#include "runner/run_folder.hpp"

#include <spdlog/spdlog.h>

namespace qrun::cli {

Result<LoadedExperiment> load_for_run(const std::string& file, std::vector<std::string> overrides,
                                      const GlobalOptions& global, std::chrono::system_clock::time_point started) {
  LoadOptions load;
  load.started = started;
  load.overrides = std::move(overrides);
  // The experiment's own plugin folders load with the others (after --plugin-path, before
  // QRUN_PLUGIN_PATH and the defaults), so its plugin names validate against them.
  auto experiment_dirs = experiment_plugin_paths(file, load);
  if (!experiment_dirs) return experiment_dirs.error();
  GlobalOptions with_experiment_dirs = global;
  with_experiment_dirs.plugin_paths.insert(with_experiment_dirs.plugin_paths.end(), experiment_dirs->begin(),
                                           experiment_dirs->end());
  Registry registry = load_registry(with_experiment_dirs);
  auto experiment = load_experiment(file, registry, load);
  if (!experiment) return experiment.error();
  std::vector<std::string> paths;
  for (const auto& p : global.plugin_paths) paths.push_back(std::filesystem::absolute(p).string());
  return LoadedExperiment{std::move(registry), std::move(*experiment), std::move(load), std::move(paths)};
}

Result<bool> choose_run_folder(LoadedExperiment& e, const std::optional<std::string>& output, bool new_run) {
  if (output) {
    if (output->empty()) return Error{"--output", "is empty", "name a folder, e.g. --output reports/my_run"};
    e.experiment.output_dir = *output;
    return !runner::read_sessions(*output).empty();
  }
  const std::filesystem::path fresh = default_output_dir(e.experiment.name, e.load.started);
  if (e.experiment.output_dir != fresh) return !runner::read_sessions(e.experiment.output_dir).empty();  // set in the file
  if (new_run) return false;
  const auto identity = runner::make_identity(e.experiment.file, e.load.overrides);
  auto found = runner::find_latest_run(fresh.parent_path(), e.experiment.name, identity);
  if (!found) return false;
  const auto sessions = runner::read_sessions(*found);
  spdlog::info("continuing the latest run of {} in {} (started {}, {} sessions); --new starts a new run folder",
               e.experiment.file.string(), found->string(), sessions.empty() ? "?" : sessions.front().record.started,
               sessions.size());
  e.experiment.output_dir = *found;
  return true;
}

Result<LoadedExperiment> load_run_folder(const std::filesystem::path& run_dir, const GlobalOptions& global) {
  auto session = runner::latest_run_session(run_dir);
  if (!session) return session.error();
  GlobalOptions with_session = global;
  for (const std::string& p : session->plugin_paths) with_session.plugin_paths.emplace_back(p);
  auto e = load_for_run(session->identity.experiment_file.string(), session->identity.overrides, with_session,
                        std::chrono::system_clock::now());
  if (!e) return e.error().within(run_dir.string() + " (its experiment)");
  e->plugin_paths = session->plugin_paths;
  e->experiment.output_dir = run_dir;
  return e;
}

}  // namespace qrun::cli
