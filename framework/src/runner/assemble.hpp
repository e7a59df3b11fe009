// results.json from cells: the plan's document (results_doc.hpp) filled with every cell of the plan
// found in the run folder's cell store, with the variant facts the cells recorded, the datasets'
// digests, and the sessions that worked on the folder. Used by every process after each cell, by
// the last shard to finish and by `qrun merge`. Internal.
#pragma once

#include "plan/plan.hpp"
#include "results/results.hpp"
#include "runner/cell_key.hpp"
#include "runner/cell_store.hpp"
#include "runner/run_folder.hpp"

#include <chrono>
#include <map>
#include <vector>

namespace qrun {
class Registry;
}

namespace qrun::runner {

struct Assembled {
  Results doc;                        // complete == every plan cell present
  std::vector<std::size_t> missing;   // indices into CellPlan::cells
  int present = 0;
};

// `started`: this process's start (provenance.started); the sessions give first_started and the
// list of starts and resumptions. An unreadable cell file counts as missing (and is logged).
// `cache` (optional) keeps cells already read, so that assembling after every cell reads each
// cell file once per process.
Assembled assemble_results(const Plan& plan, const Registry& registry, const CellPlan& cells, const CellStore& store,
                           std::chrono::system_clock::time_point started, const std::vector<Session>& sessions,
                           std::map<std::string, StoredCell>* cache = nullptr);

}  // namespace qrun::runner
