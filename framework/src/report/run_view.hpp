// What every report section reads: the Results document plus the few facts derived from it once
// (title, metric order, completeness). Values are shown only through their declarations.
#pragma once

#include "results/results.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace qrun::report {

struct MissingCells {
  std::string variant;
  std::vector<std::string> labels;  // experiment metric labels without a cell
};

struct RunView {
  Results doc;                  // every recorded value declared (declare_undeclared)
  std::string experiment_name;
  // The report's title: experiment.report.title, else "Harm report: <name>"; when the loaded
  // model is named nowhere in a title the experiment gave, it says which model was loaded.
  std::string title;
  std::vector<std::string> metric_labels;  // experiment order first, then alphabetical
  // True only when the document says "complete": true AND every variant has a cell for every
  // metric the experiment lists and is itself marked complete: a flag alone never makes a
  // report look finished.
  bool complete = false;
  std::vector<MissingCells> missing;  // variants with missing cells, in variant order

  const std::vector<VariantRecord>& variants() const { return doc.variants; }
  const VariantRecord* baseline() const { return doc.baseline(); }
  const VariantRecord* variant(std::string_view name) const { return doc.variant(name); }
  // The first cell with this label among the variants (for its use, params, method).
  const MetricCell* any_metric(std::string_view label) const;
  // The declarations of the metric recorded under `label`.
  const MetricSpec& spec(std::string_view label) const;
  // The declaration of value `name` of the metric under `label` (declared: every recorded value is).
  const ValueSpec& value_spec(std::string_view label, std::string_view name) const;
};

RunView view_of(const Results& results);

}  // namespace qrun::report
