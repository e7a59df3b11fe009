// A named report section (MetricSpec::section, e.g. "Behavioural harm"): the metrics that name it,
// each with its tables, its charts, the worst categories of every variant against the baseline
// and examples of changed answers with the baseline's beside them.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <qrun/changed_example.hpp>

#include <algorithm>

namespace qrun::report {

namespace {

constexpr std::size_t kWorstCategories = 3;  // per variant and metric
constexpr std::size_t kExamplesShown = 3;    // per variant and metric (all kept are in results.json)

// "violence: refusal 100 % → 50 % (−50 pp)" for the categories where the variant is worst
// against the baseline, over the metric's headline grouped values with a direction.
std::string worst_categories(const RunView& run, const std::string& label, const VariantRecord& v) {
  const VariantRecord* base = run.baseline();
  const MetricCell* cell = v.metric(label);
  const MetricCell* bcell = base ? base->metric(label) : nullptr;
  if (!cell || !bcell) return "";
  struct Harm {
    double delta;
    std::string text;
  };
  std::vector<Harm> harms;
  for (const MetricValue& x : cell->result.values) {
    if (x.group.empty()) continue;
    const ValueSpec& s = run.value_spec(label, x.name);
    if (!s.is_headline || s.better == Better::none) continue;
    const MetricValue* b = bcell->find(x.name, x.group);
    if (!b) continue;
    auto d = harm_delta(x, *b, s);
    if (!d || !(*d > 0)) continue;
    const std::string unit = s.unit.empty() ? "" : " " + s.unit;
    const double change = x.value - b->value;
    const std::string delta = s.unit == "%" ? fmt_delta(change) + " pp" : fmt_signed_num(change) + unit;
    harms.push_back({*d, x.group + ": " + s.label + " " + fmt_num(b->value) + unit + " → " + fmt_num(x.value) + unit +
                             " (" + delta + ")"});
  }
  if (harms.empty()) return "";
  std::stable_sort(harms.begin(), harms.end(), [](const Harm& a, const Harm& b) { return a.delta > b.delta; });
  std::string out;
  for (std::size_t i = 0; i < std::min(harms.size(), kWorstCategories); ++i) out += (i ? "; " : "") + harms[i].text;
  return out;
}

std::string worst_categories_block(const RunView& run, const std::string& label) {
  std::string out;
  for (const VariantRecord& v : run.variants()) {
    if (v.baseline) continue;
    const std::string w = worst_categories(run, label, v);
    if (!w.empty()) out += "- **" + v.name + "**: " + w + "\n";
  }
  if (out.empty()) return "";
  return "**Worst categories** (largest harm against the baseline " + run.baseline()->name +
         ", headline values, at most " + std::to_string(kWorstCategories) + " per variant):\n\n" + out + "\n";
}

std::vector<ChangedExample> examples_of(const MetricCell& cell) {
  std::vector<ChangedExample> out;
  const nlohmann::json& d = cell.result.details;
  if (!d.is_object() || !d.contains(kChangedExamplesKey) || !d[std::string(kChangedExamplesKey)].is_array()) return out;
  for (const nlohmann::json& j : d[std::string(kChangedExamplesKey)])
    if (auto e = changed_example_from_json(j)) out.push_back(std::move(*e));
  return out;
}

// Model or dataset text made inert for Markdown renderers: no raw HTML ('|' is escaped by the table).
std::string inert(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  return out;
}

std::string quoted_output(const ChangedOutcome& o) { return o.outcome + ": “" + inert(o.model_output) + "”"; }

std::string changed_examples_block(const RunView& run, const std::string& label) {
  std::string out;
  for (const VariantRecord& v : run.variants()) {
    const MetricCell* cell = v.baseline ? nullptr : v.metric(label);
    if (!cell) continue;
    const std::vector<ChangedExample> all = examples_of(*cell);
    if (all.empty()) continue;
    Table t{{"Change", "Item", "Input", run.baseline() ? run.baseline()->name + " (model output)" : "baseline",
             v.name + " (model output)"},
            {},
            {}};
    for (std::size_t i = 0; i < std::min(all.size(), kExamplesShown); ++i) {
      const ChangedExample& e = all[i];
      t.row({e.change, e.group.empty() ? e.id : e.id + " (" + e.group + ")", inert(e.input), quoted_output(e.baseline),
             quoted_output(e.variant)});
    }
    out += "Changed answers, **" + v.name + "** (" + std::to_string(std::min(all.size(), kExamplesShown)) + " of the " +
           std::to_string(all.size()) + " kept in results.json):\n\n" + render_table(t) + "\n";
  }
  if (out.empty()) return "";
  return out + "_Quoted text is model output, truncated by the metric (its `example_chars` parameter); it is "
               "shown as generated and may be wrong or harmful._\n\n";
}

}  // namespace

std::string render_named_section(const RunView& run, const std::string& section, const std::vector<std::string>& labels,
                                 const std::vector<ChartFile>& charts) {
  if (labels.empty()) return "";
  std::string out = "## " + section + "\n\n";
  std::string list;
  for (const std::string& l : labels) list += (list.empty() ? "`" : ", `") + l + "`";
  out += "Metrics in this section: " + list + ".\n\n";
  for (const std::string& label : labels) {
    out += render_metric_section(run, label, 3);
    out += worst_categories_block(run, label);
    for (const ChartFile& c : charts)
      if (c.label == label) out += render_chart(c, 4);
    out += changed_examples_block(run, label);
  }
  return out;
}

}  // namespace qrun::report
