// The results.json document while a run fills it: creation, resume merge, cell bookkeeping.
// Internal to framework/src/runner/.
#pragma once

#include "experiment/experiment.hpp"

#include <qrun/error.hpp>
#include <qrun/metric.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace qrun {
class Registry;
}

namespace qrun::runner {

// A fresh document: schema version, resolved experiment, provenance known before loading
// anything, one entry per variant (file order) with no metrics, "complete": false.
nlohmann::json new_results_doc(const Experiment& e, const Registry& registry,
                               std::chrono::system_clock::time_point started);

// Takes every finished cell (and the variant facts recorded with them) from `old` into `doc`.
// Error when `old` was written for another experiment (names `old_file` and the first
// difference) or when a dataset's sha256 changed since. Returns how many cells were taken.
Result<int> merge_previous(nlohmann::json& doc, const nlohmann::json& old, const std::filesystem::path& old_file);

// The variant entry named `name` (it exists: the document is built from the experiment).
nlohmann::json& variant_doc(nlohmann::json& doc, const std::string& name);
bool has_cell(const nlohmann::json& variant, const std::string& label);

// The stored form of one metric entry's result on one variant; Error when a value is not finite.
Result<nlohmann::json> metric_cell(const MetricEntry& m, const MetricResult& r, const std::string& variant);

// Marks each variant complete when it has every metric label of the experiment; true when all
// are (the document's own "complete" is set by the runner once the run has finished).
bool update_completeness(nlohmann::json& doc, const Experiment& e);

}  // namespace qrun::runner
