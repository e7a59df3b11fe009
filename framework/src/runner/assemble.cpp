// results.json assembled from the cell files of a run folder.
#include "runner/assemble.hpp"

#include "runner/provenance.hpp"
#include "runner/results_doc.hpp"

#include <spdlog/spdlog.h>

namespace qrun::runner {

Assembled assemble_results(const Plan& plan, const Registry& registry, const CellPlan& cells, const CellStore& store,
                           std::chrono::system_clock::time_point started, const std::vector<Session>& sessions,
                           std::map<std::string, StoredCell>* cache) {
  Assembled out;
  Results& doc = out.doc;
  doc = new_results(plan, registry, started);
  doc.provenance.datasets = cells.datasets;
  for (const Session& s : sessions) doc.provenance.sessions.push_back(s.record);
  // Only when other processes worked on the folder (this process's own session is the last one).
  if (sessions.size() > 1 && sessions.front().record.started < doc.provenance.started)
    doc.provenance.first_started = sessions.front().record.started;

  for (std::size_t i = 0; i < cells.cells.size(); ++i) {
    const PlannedCell& pc = cells.cells[i];
    const StoredCell* found = nullptr;
    std::optional<StoredCell> local;
    if (cache && cache->count(pc.key)) {
      found = &cache->at(pc.key);
    } else {
      auto stored = store.read(pc.key);
      if (!stored) spdlog::warn("{} (counted as not done)", stored.error().message());
      if (stored && *stored) {
        local = std::move(**stored);
        found = cache ? &cache->emplace(pc.key, std::move(*local)).first->second : &*local;
      }
    }
    if (!found) {
      out.missing.push_back(i);
      continue;
    }
    const StoredCell& c = *found;
    const std::string& label = plan.metrics[pc.metric].label;
    VariantRecord& v = variant_of(doc, plan.variants[pc.variant].name);
    v.metrics[label] = *c.record.metric(c.metric);
    // The variant's facts, from whichever of its cells has them (all cells of one build agree).
    if (c.record.transforms.size() == v.transforms.size())
      for (std::size_t t = 0; t < v.transforms.size(); ++t)
        if (!v.transforms[t].summary && c.record.transforms[t].summary) v.transforms[t] = c.record.transforms[t];
    if (!v.storage && c.record.storage) v.storage = c.record.storage;
    if (v.compute_dtype.empty()) v.compute_dtype = c.record.compute_dtype;
    if (v.storage_dtype.empty()) v.storage_dtype = c.record.storage_dtype;
    if (!doc.provenance.model && c.model) doc.provenance.model = c.model;
    if (!doc.provenance.device && c.device) doc.provenance.device = c.device;
    ++out.present;
  }
  doc.complete = update_completeness(doc, plan);
  return out;
}

}  // namespace qrun::runner
