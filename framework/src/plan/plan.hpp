// Plan: what a run will do, in order. The baseline is built first, then each other variant as a
// copy of the baseline with its transform chain applied (defenses, then at most one quantizer);
// per-model metrics run on each variant as it is built, comparison metrics once over the baseline
// and all variants in lockstep.
#pragma once

#include "experiment/experiment.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace qrun {

class Registry;

struct PlannedVariant {
  std::string name;
  bool baseline = false;
  std::vector<TransformEntry> chain;  // in application order
};

// Everything a run needs, and all the runner takes (with the registry to make plugins).
struct Plan {
  std::string experiment;          // name
  std::filesystem::path experiment_file;
  nlohmann::json experiment_json;  // the resolved experiment as results.json records it
  std::vector<std::string> overrides;  // the --set texts the experiment was loaded with
  std::uint64_t seed = 0;
  std::filesystem::path output_dir;
  PluginUse model;
  std::vector<DatasetEntry> datasets;
  std::vector<PlannedVariant> variants;  // baseline first, then file order
  std::vector<MetricEntry> metrics;      // every metric entry, file order
  std::vector<MetricEntry> per_model;    // metrics with compares_to_baseline == false, file order
  std::vector<MetricEntry> comparison;   // metrics with compares_to_baseline == true, file order
};

// `overrides`: the --set texts `e` was loaded with (recorded in results.json and the report).
Plan make_plan(const Experiment& e, std::vector<std::string> overrides = {});

// Human-readable plan for --dry-run: model, datasets (marked when the file is missing), variants
// with their chains and full parameters, metrics with parameters and plugin versions.
std::string describe_plan(const Plan& plan, const Registry& registry);

}  // namespace qrun
