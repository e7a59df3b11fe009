// RunView: the document with every value declared, plus title, metric order and completeness.
#include "report/run_view.hpp"

#include <algorithm>

namespace qrun::report {

namespace {

// The loaded model's names a title may use: the hub id, its last part, the folder's name.
std::vector<std::string> model_names(const Provenance& p) {
  std::vector<std::string> names;
  if (!p.model) return names;
  for (const std::string& s : {p.model->name, p.model->folder}) {
    if (s.empty()) continue;
    names.push_back(s);
    std::string tail = s;
    while (!tail.empty() && tail.back() == '/') tail.pop_back();
    if (auto slash = tail.rfind('/'); slash != std::string::npos) tail = tail.substr(slash + 1);
    if (!tail.empty()) names.push_back(tail);
  }
  return names;
}

std::string title_of(const Results& r, const std::string& name) {
  const nlohmann::json table = r.report_table();
  std::string title = table.contains("title") && table["title"].is_string() ? table["title"].get<std::string>() : "";
  if (title.empty()) return name.empty() ? "qrun harm report" : "Harm report: " + name;
  const std::vector<std::string> names = model_names(r.provenance);
  if (names.empty() || title == name) return title;  // the default title (the experiment's name) names no model
  for (const std::string& n : names)
    if (title.find(n) != std::string::npos) return title;
  // A title the experiment wrote for another model (e.g. after --set model.path=...).
  const std::string shown = r.provenance.model->name.empty() ? names.back() : r.provenance.model->name;
  return title + " (run on `" + shown + "`, not a model this title names)";
}

}  // namespace

const MetricCell* RunView::any_metric(std::string_view label) const {
  for (const VariantRecord& v : doc.variants)
    if (const MetricCell* m = v.metric(label)) return m;
  return nullptr;
}

const MetricSpec& RunView::spec(std::string_view label) const {
  const MetricCell* m = any_metric(label);
  return doc.spec(m ? m->use : std::string());
}

const ValueSpec& RunView::value_spec(std::string_view label, std::string_view name) const {
  if (const ValueSpec* s = spec(label).find(name)) return *s;
  static const ValueSpec undeclared = value("?", "?");  // unreachable: view_of declares every value
  return undeclared;
}

RunView view_of(const Results& results) {
  RunView r{results, "", "", {}, false, {}};
  declare_undeclared(r.doc);
  r.experiment_name = r.doc.experiment_name();
  r.title = title_of(r.doc, r.experiment_name);

  // Metric order: as the experiment lists them, then any others alphabetically.
  std::vector<std::string> present;
  for (const VariantRecord& v : r.doc.variants)
    for (const auto& [label, cell] : v.metrics)
      if (std::find(present.begin(), present.end(), label) == present.end()) present.push_back(label);
  std::sort(present.begin(), present.end());
  const std::vector<std::string> expected = r.doc.experiment_metric_labels();
  for (const std::string& label : expected)
    if (auto it = std::find(present.begin(), present.end(), label); it != present.end()) {
      r.metric_labels.push_back(label);
      present.erase(it);
    }
  r.metric_labels.insert(r.metric_labels.end(), present.begin(), present.end());

  // Completeness from the cells themselves: every metric the experiment lists, on every variant.
  bool all_variants_complete = true;
  for (const VariantRecord& v : r.doc.variants) {
    MissingCells mc{v.name, {}};
    for (const std::string& label : expected)
      if (!v.metric(label)) mc.labels.push_back(label);
    if (!mc.labels.empty()) r.missing.push_back(std::move(mc));
    all_variants_complete = all_variants_complete && v.complete;
  }
  r.complete = r.doc.complete && r.missing.empty() && all_variants_complete && !r.doc.error;
  return r;
}

}  // namespace qrun::report
