// The warnings a reader must see before any number: INCOMPLETE RUN (cells missing, the run
// stopped) and REDUCED RUN (a metric ran on part of its data, as its cells' `reductions` say).
#include "report/sections.hpp"

#include <algorithm>

namespace qrun::report {

std::string render_incomplete_banner(const RunView& run) {
  if (run.complete) return "";
  std::string out = "> **⚠ INCOMPLETE RUN.** ";
  if (!run.doc.complete) out += "This results document is marked `complete: false`";
  else out += "This results document is marked complete but is not";
  std::size_t finished = 0;
  for (const VariantRecord& v : run.variants()) finished += v.complete ? 1 : 0;
  out += ": " + std::to_string(finished) + " of " + std::to_string(run.variants().size()) + " variants finished.";
  if (run.doc.error) out += " The run stopped with: `" + *run.doc.error + "`.";
  if (!run.missing.empty()) {
    std::string cells;
    for (const MissingCells& m : run.missing) {
      cells += (cells.empty() ? "" : "; ") + m.variant + ": ";
      for (std::size_t i = 0; i < m.labels.size(); ++i) cells += (i ? ", " : "") + m.labels[i];
    }
    out += " Missing cells (variant: metrics): " + cells + ".";
  }
  std::string unmarked;
  for (const VariantRecord& v : run.variants())
    if (!v.complete) unmarked += (unmarked.empty() ? "" : ", ") + v.name;
  if (!unmarked.empty()) out += " Not marked complete: " + unmarked + ".";
  out += " Missing cells are shown as \"—\" and criteria without data as n/a. Do not cite this report as a "
         "finished study; run the experiment again with the same output folder to resume it.\n\n";
  return out;
}

std::string render_reduced_banner(const RunView& run) {
  // Per metric label: each distinct reduction with the variants it applies to.
  std::string list;
  for (const std::string& label : run.metric_labels) {
    std::vector<std::pair<std::string, std::vector<std::string>>> seen;  // reduction -> variants
    std::size_t with_cell = 0;
    for (const VariantRecord& v : run.variants()) {
      const MetricCell* c = v.metric(label);
      if (!c) continue;
      ++with_cell;
      for (const std::string& r : c->result.reductions) {
        auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == r; });
        if (it == seen.end()) seen.push_back({r, {v.name}});
        else it->second.push_back(v.name);
      }
    }
    if (seen.empty()) continue;
    std::string parts;
    for (const auto& [reduction, variants] : seen) {
      std::string who;
      if (variants.size() < with_cell)
        for (const std::string& n : variants) who += (who.empty() ? " (" : ", ") + n;
      parts += (parts.empty() ? "" : "; ") + reduction + (who.empty() ? "" : who + ")");
    }
    list += "\n> - `" + label + "`: " + parts;
  }
  if (list.empty()) return "";
  return "> **⚠ REDUCED RUN.** Some metrics ran on part of their data, so their numbers are not those of the full "
         "protocol and are not comparable with full runs:" + list + "\n\n";
}

}  // namespace qrun::report
