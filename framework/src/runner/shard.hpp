// Shards: `--shard I/N` (1 <= I <= N) runs a deterministic subset of a plan's cells. Every shard
// computes the same assignment from the plan alone (never from what is already done), so shards
// started at different times, on different hosts, or resubmitted after a failure agree on who
// owns which cell. Internal.
//
// Balance: cells are dealt largest first (longest-processing-time rule) to the shard whose load
// would grow least, where a cell costs its metric's estimated cost plus, when the shard does not
// hold the cell's variant yet, the cost of building that variant (its transform chain): cells of
// one variant stay together unless that unbalances the shards. Costs are rough relative units
// (metric_cost, build_cost); ties go to the lower shard, so the result is deterministic.
#pragma once

#include "plan/plan.hpp"
#include "runner/cell_key.hpp"

#include <qrun/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace qrun::runner {

struct Shard {
  int index = 1;  // 1-based
  int count = 1;
  bool whole() const { return count == 1; }
  std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }  // "2/3"
};

// "I/N" with 1 <= I <= N. Error names `option` ("--shard").
Result<Shard> parse_shard(std::string_view text, const std::string& option = "--shard");

// Estimated relative cost of one cell of metric `m` (about 1 = one perplexity pass).
double metric_cost(const MetricEntry& m);
// Estimated relative cost of building a variant (0 for the untransformed baseline).
double build_cost(const PlannedVariant& v);

// The shard (1..count) of every cell, parallel to `cells`.
std::vector<int> assign_shards(const Plan& plan, const std::vector<PlannedCell>& cells, int count);

}  // namespace qrun::runner
