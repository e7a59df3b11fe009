// Cells are the unit of a run: one (variant, metric entry) pair of the plan, on the plan's model
// and (when the metric reads one) dataset. Each cell has a content key, the SHA-256 of everything
// its numbers depend on:
//   qrun's version and the torch it was built against; the experiment seed;
//   the model (backend, parameters without the device, SHA-256 of its files: model_identity.hpp);
//   the variant's name (it seeds its transforms and metrics) and transform chain, each transform
//   with its parameters and its plugin's version;
//   the metric's plugin, version, label (it seeds the cell) and parameters;
//   the dataset's name and SHA-256;
//   for a metric that compares to the baseline, the baseline variant as above.
// A finished cell is stored under its key (cell_store.hpp) and reused by any later run, shard or
// worker whose cell has the same key; anything else gets a new key and is computed. Internal.
#pragma once

#include "plan/plan.hpp"
#include "results/results.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun {
class Registry;
}

namespace qrun::runner {

struct PlannedCell {
  std::size_t variant = 0;  // index into Plan::variants
  std::size_t metric = 0;   // index into Plan::metrics
  std::string key;          // 32 hex digits (the first 128 bits of the material's SHA-256)
  nlohmann::json material;  // what the key hashes, stored with the cell for `qrun status` and humans
};

struct CellPlan {
  std::vector<PlannedCell> cells;         // variant-major, plan order: cells[v * metrics + m]
  std::vector<DatasetRecord> datasets;    // every dataset of the plan with its SHA-256
  nlohmann::json model;                   // model_identity()
};

// Hashes the datasets and the model's files (through `hash_cache` when given) and keys every cell.
// Error when a dataset file is missing (naming its --set fix) or unreadable.
Result<CellPlan> plan_cells(const Plan& plan, const Registry& registry, const std::optional<std::filesystem::path>& hash_cache);

// "variant / metric label" for logs and status tables.
std::string cell_name(const Plan& plan, const PlannedCell& cell);

}  // namespace qrun::runner
