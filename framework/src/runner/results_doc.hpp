// The Results document a run's cells are assembled into (assemble.hpp): creation, cell bookkeeping.
// Internal to framework/src/runner/.
#pragma once

#include "plan/plan.hpp"
#include "results/results.hpp"

#include <qrun/error.hpp>
#include <qrun/metric.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace qrun {
class Registry;
}

namespace qrun::runner {

// A fresh document: schema version, resolved experiment, the --set overrides, provenance known
// before loading anything, the declarations of every metric the plan runs, one entry per variant
// (experiment file order) with no metrics, "complete": false.
Results new_results(const Plan& plan, const Registry& registry, std::chrono::system_clock::time_point started);

// The variant named `name` (it exists: the document is built from the plan).
VariantRecord& variant_of(Results& doc, const std::string& name);
bool has_cell(const VariantRecord& variant, const std::string& label);

// The stored form of one metric entry's result on one variant: its values checked against the
// metric's declarations (`spec`); Error when a value is undeclared, contradicts its
// declaration or is not finite.
Result<MetricCell> metric_cell(const MetricEntry& m, MetricResult r, const MetricSpec& spec, const std::string& variant);

// Marks each variant complete when it has every metric label of the plan; true when all are
// (the document's own "complete" is set by the runner once the run has finished).
bool update_completeness(Results& doc, const Plan& plan);

}  // namespace qrun::runner
