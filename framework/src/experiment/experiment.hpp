// Experiment: one TOML file, validated in full before any heavy work. This stage is the only code
// that sees toml++; what leaves it is plain typed data with validated plugin parameters.
//
//   [experiment]  name, seed (default 0), output_dir (default "reports/<name>-<UTC start>/"),
//                 plugin_path = ["dir", ...] (plugin folders, relative to the experiment file)
//   [model]       use = "<backend>" (default "hf"), then that backend's parameters
//   [[datasets]]  name, path
//   [[variants]]  name, baseline = true (optional), transforms = [{use = "nf4", blocksize = 64}, ...]
//   [[metrics]]   use, name (label; default = use), dataset (a [[datasets]] name), then parameters
//   [report]      title and criteria thresholds (the keys of report_fields())
//
// Relative paths (datasets[].path, experiment.output_dir, and a model folder given to the backend)
// are kept as written and resolve against the current directory, like every path on a command
// line; run qrun from the repository root or override with --set datasets[0].path=/abs/file.
#pragma once

#include <qrun/error.hpp>
#include <qrun/params.hpp>
#include <qrun/plugin.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qrun {

class Registry;

// A backend, transform or metric entry as used by the experiment: the plugin name and its
// parameters, validated against the plugin's schema with defaults filled in.
struct PluginUse {
  std::string use;
  ParamMap params;
  std::string where;  // "experiments/x.toml:14:3" (or "--set") for messages after validation
};

struct DatasetEntry {
  std::string name;
  std::filesystem::path path;  // as written (relative paths resolve against the current directory)
  std::string where;  // position of its path value
};

struct TransformEntry : PluginUse {
  Role role = Role::defense;
};

struct VariantEntry {
  std::string name;
  bool baseline = false;
  std::vector<TransformEntry> transforms;  // defenses first, then at most one quantizer
  std::string where;
};

struct MetricEntry : PluginUse {
  std::string label;                    // `name`, default = use; unique
  std::optional<std::string> dataset;   // a DatasetEntry name
  MetricSpec spec;                      // from the plugin's registration
};

// One declared [report] key. Values are numbers (criteria) or strings (title).
struct ReportField {
  std::string name;
  ParamType type;       // real or string
  std::optional<double> min;
  std::string doc;
};
// `title` plus every criterion key the registry's metrics declare (ValueSpec::criteria) and the
// framework's storage criteria; error when two declarations of one key disagree.
Result<std::vector<ReportField>> report_fields(const Registry& registry);

struct ReportSettings {
  std::string title;                   // default: the experiment name
  std::map<std::string, double> criteria;  // only the keys the file sets (others: criterion off)
};

struct Experiment {
  std::filesystem::path file;          // the TOML file as given
  std::string name;
  std::uint64_t seed = 0;
  std::filesystem::path output_dir;    // resolved: the file's value, or the default
  std::vector<std::filesystem::path> plugin_paths;  // [experiment] plugin_path, resolved against the file's folder
  PluginUse model;                     // the backend
  std::vector<DatasetEntry> datasets;
  std::vector<VariantEntry> variants;  // in file order
  std::size_t baseline = 0;            // index into variants
  std::vector<MetricEntry> metrics;    // in file order
  ReportSettings report;

  const DatasetEntry* find_dataset(const std::string& name) const;
};

struct LoadOptions {
  std::vector<std::string> overrides;  // "--set" texts: "model.path=/x", "metrics[0].max_length=64"
  // The run's start; the default output_dir is reports/<name>-<YYYYmmddTHHMMSSZ>/ of this instant.
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

// Parses, applies overrides, validates everything (keys, types, plugin names and kinds, parameters,
// transform order, baseline, metric datasets). Every error's thing starts with "file:line:col"
// (or "--set" for a value that came from an override) followed by the key path.
Result<Experiment> load_experiment(const std::filesystem::path& file, const Registry& registry,
                                   const LoadOptions& options = {});
// The existing folders named by [experiment] plugin_path (after the overrides), resolved against
// the file's folder. The caller loads them into the registry before load_experiment, which
// validates plugin names against that registry (`qrun run` does).
Result<std::vector<std::filesystem::path>> experiment_plugin_paths(const std::filesystem::path& file,
                                                                   const LoadOptions& options = {});
// Same as load_experiment, from TOML text (`file` names it in messages and anchors plugin_path).
Result<Experiment> parse_experiment(const std::string& toml_text, const std::filesystem::path& file,
                                    const Registry& registry, const LoadOptions& options = {});

// "reports/<name>-<YYYYmmddTHHMMSSZ>" for an instant (UTC).
std::filesystem::path default_output_dir(const std::string& name, std::chrono::system_clock::time_point t);

// JSON of a parameter value / map (TOML-like types: bool, integer, float, string, list of strings).
nlohmann::json to_json(const ParamValue& v);
nlohmann::json to_json(const ParamMap& m);
// The resolved experiment (defaults filled in), as recorded under "experiment" in results.json.
nlohmann::json to_json(const Experiment& e);

}  // namespace qrun
