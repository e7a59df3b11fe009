// Method section: how each number was computed, from the metrics' own `method` strings and
// recorded parameters, plus the report's own formatting and criteria definitions.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

std::string seed_text(const RunView& run) {
  for (const nlohmann::json* j : {&run.experiment, run.experiment.contains("experiment") ? &run.experiment["experiment"] : nullptr})
    if (j && j->is_object() && j->contains("seed") && (*j)["seed"].is_number()) return (*j)["seed"].dump();
  return "not recorded";
}

}  // namespace

std::string render_method(const RunView& run, const CriteriaSet& criteria) {
  std::string out = "## Method\n\n";
  out += "Run seed: " + seed_text(run) + ". Each variant is the baseline model after its transforms, applied in "
         "the order listed (defenses before the quantizer).\n\n";

  out += "### Transforms\n\n";
  for (const auto& v : run.variants) {
    out += "- **" + v.name + "**: " + transform_chain(v);
    for (const auto& t : v.transforms)
      if (!t.summary.empty()) out += ". `" + t.use + "`: " + t.summary;
    out += "\n";
  }
  out += "\n";

  const Variant* base = run.baseline();
  for (const auto& label : run.metric_labels) {
    const MetricEntry* m = run.any_metric(label);
    out += "### " + label + (m->use.empty() || m->use == label ? "" : " (`" + m->use + "`)") + "\n\n";
    out += (m->method.empty() ? std::string("_The metric recorded no description of its method._") : m->method) + "\n\n";
    if (auto p = params_text(m->params); !p.empty()) out += "Parameters: " + p + ".\n\n";
    if (!m->dataset.empty()) {
      std::string ds = "Dataset: `" + m->dataset + "`";
      if (run.provenance.contains("datasets") && run.provenance["datasets"].is_array())
        for (const auto& d : run.provenance["datasets"])
          if (d.value("name", "") == m->dataset) ds += ", sha256 `" + d.value("sha256", std::string("unknown")) + "`";
      out += ds + ".\n\n";
    }
    std::string counts;
    for (const auto& v : run.variants)
      if (const auto* vm = v.metric(label))
        for (const auto& x : vm->values)
          if (x.group.empty()) {
            counts += (counts.empty() ? "" : ", ") + v.name + " n=" + std::to_string(x.n);
            break;
          }
    if (!counts.empty()) out += "Items summarised (n of the first overall value): " + counts + ".\n\n";
  }

  out += "### Numbers in this report\n\n";
  out += "Numbers show 4 significant digits (scientific notation below 1e-4 and from 1e7), ± the standard error "
         "where the metric gives one, and n items. Δ vs baseline is 100·(variant − baseline)/baseline in %, or the "
         "difference in percentage points (pp) for values in %. Throughput changes are slowdowns, baseline "
         "tokens/s ÷ variant tokens/s (× the baseline's time). Sizes are decimal (1 MB = 10^6 bytes); compression "
         "is baseline bytes ÷ variant bytes.";
  if (base) out += " The baseline is **" + base->name + "**.";
  out += "\n\n";

  out += "### Criteria definitions\n\n";
  Table t{{"Key", "Unit", "Passes when", "Measures"}, {Align::left, Align::left, Align::left, Align::left}, {}};
  for (const auto& s : report_criteria()) {
    bool set = false;
    for (const auto& c : criteria.criteria) set = set || c.spec == &s;
    t.row({"`" + s.key + "`" + (set ? " (set)" : ""), s.unit, s.is_max ? "measured ≤ threshold" : "measured ≥ threshold", s.doc});
  }
  out += render_table(t) + "\n";
  return out;
}

}  // namespace qrun::report
