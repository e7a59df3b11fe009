// Method section: how each number was computed, from the metrics' own `method` strings and
// recorded parameters, plus the report's own formatting and the criteria the declarations define.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

std::string metric_method(const RunView& run, const std::string& label) {
  const MetricCell* m = run.any_metric(label);
  std::string out = "### " + label + (m->use.empty() || m->use == label ? "" : " (`" + m->use + "`)") + "\n\n";
  out += (m->result.method.empty() ? std::string("_The metric recorded no description of its method._") : m->result.method) + "\n\n";
  if (auto p = params_text(m->params); !p.empty()) out += "Parameters: " + p + ".\n\n";
  if (m->dataset) {
    std::string ds = "Dataset: `" + *m->dataset + "`";
    for (const DatasetRecord& d : run.doc.provenance.datasets)
      if (d.name == *m->dataset) ds += ", sha256 `" + (d.sha256.empty() ? std::string("unknown") : d.sha256) + "`";
    out += ds + ".\n\n";
  }
  std::string counts;
  for (const VariantRecord& v : run.variants())
    if (const MetricCell* vm = v.metric(label))
      for (const MetricValue& x : vm->result.values)
        if (x.group.empty()) {
          counts += (counts.empty() ? "" : ", ") + v.name + " n=" + std::to_string(x.n);
          break;
        }
  if (!counts.empty()) out += "Items summarised (n of the first overall value): " + counts + ".\n\n";
  return out;
}

}  // namespace

std::string render_method(const RunView& run, const CriteriaSet& criteria) {
  std::string out = "## Method\n\n";
  const auto seed = run.doc.seed();
  out += "Run seed: " + (seed ? std::to_string(*seed) : std::string("not recorded")) +
         ". Each variant is the baseline model after its transforms, applied in the order listed (defenses before "
         "the quantizer).\n\n";

  out += "### Transforms\n\n";
  for (const VariantRecord& v : run.variants()) {
    out += "- **" + v.name + "**: " + transform_chain(v);
    for (const TransformRecord& t : v.transforms)
      if (t.summary && !t.summary->empty()) out += ". `" + t.use + "`: " + *t.summary;
    out += "\n";
  }
  out += "\n";

  for (const std::string& label : run.metric_labels) out += metric_method(run, label);

  const VariantRecord* base = run.baseline();
  out += "### Numbers in this report\n\n";
  out += "Numbers show 4 significant digits (scientific notation below 1e-4 and from 1e7), ± the standard error "
         "where the metric gives one, and n items. Labels, units and which direction is better are each value's "
         "declaration (results.json \"declarations\"). Δ vs baseline is 100·(variant − baseline)/baseline in %, or "
         "the difference in percentage points (pp) for values in %. Throughput changes are slowdowns, baseline "
         "tokens/s ÷ variant tokens/s (× the baseline's time). Sizes are decimal (1 MB = 10^6 bytes); compression "
         "is baseline bytes ÷ variant bytes.";
  if (base) out += " The baseline is **" + base->name + "**.";
  out += "\n\n";

  if (criteria.available.empty()) return out;
  out += "### Criteria definitions\n\n";
  Table t{{"Key", "Unit", "Passes when", "Measures", "Declared by"},
          {Align::left, Align::left, Align::left, Align::left, Align::left}, {}};
  for (const DeclaredCriterion& s : criteria.available) {
    bool set = false;
    for (const Criterion& c : criteria.criteria) set = set || c.spec.key == s.key;
    std::string by;
    for (const std::string& d : s.declared_by) by += (by.empty() ? "`" : ", `") + d + "`";
    t.row({"`" + s.key + "`" + (set ? " (set)" : ""), s.unit,
           is_max(s.rule) ? "measured ≤ threshold" : "measured ≥ threshold", s.doc, by});
  }
  out += render_table(t) + "\n";
  return out;
}

}  // namespace qrun::report
