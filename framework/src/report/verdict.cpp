// Harm indicators and defense success criteria: one row per criterion, one column per variant.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

namespace qrun::report {

std::string render_verdict_section(const RunView& run, const CriteriaSet& criteria, const std::string& heading) {
  std::string out = heading + "\n\n";
  if (criteria.criteria.empty()) {
    out += "No criteria are set in the experiment's `[report]` table, so no variant gets a verdict.";
    std::string keys;
    for (const DeclaredCriterion& s : criteria.available) keys += (keys.empty() ? "`" : ", `") + s.key + "`";
    if (!keys.empty()) out += " Keys the metrics of this run declare: " + keys + " (defined in the Method section).";
    out += "\n\n";
  } else {
    Table t{{"Criterion", "Threshold"}, {Align::left, Align::left}, {}};
    std::vector<const VariantRecord*> cols;
    for (const VariantRecord& v : run.variants())
      if (!v.baseline) {
        cols.push_back(&v);
        t.headers.push_back(v.name);
        t.align.push_back(Align::left);
      }
    std::vector<std::vector<CriterionOutcome>> outcomes;
    for (const VariantRecord* v : cols) outcomes.push_back(evaluate(run, *v, criteria));
    for (std::size_t c = 0; c < criteria.criteria.size(); ++c) {
      const Criterion& cr = criteria.criteria[c];
      std::vector<std::string> r{"`" + cr.spec.key + "`", fmt_threshold(cr.spec, cr.threshold)};
      for (const auto& o : outcomes) {
        const CriterionOutcome& x = o[c];
        if (x.verdict == Verdict::not_applicable) {
          r.push_back("n/a (" + x.reason + ")");
        } else {
          std::string cell = (x.verdict == Verdict::pass ? "pass " : "**FAIL** ") + fmt_criterion_value(x.spec, *x.measured);
          if (!x.where.empty()) cell += " (" + x.where + ")";
          if (!x.evidence.empty()) cell += "; " + x.evidence;
          r.push_back(cell);
        }
      }
      t.row(std::move(r));
    }
    std::vector<std::string> total{"**all criteria**", ""};
    for (const auto& o : outcomes) {
      int fail = 0, na = 0;
      for (const auto& x : o) {
        fail += x.verdict == Verdict::fail;
        na += x.verdict == Verdict::not_applicable;
      }
      std::string cell = fail ? "**FAIL** (" + std::to_string(fail) + " of " + std::to_string(o.size()) + " failed)"
                              : "pass (" + std::to_string(o.size() - na) + " of " + std::to_string(o.size()) + " measured)";
      total.push_back(cell);
    }
    t.row(std::move(total));
    out += render_table(t) + "\n";
    out += "Each cell is the worst measured value over what the criterion covers (where it occurred in "
           "parentheses), followed by the confidence intervals behind it where the metric declares them "
           "(the behavioural rates: 95 % Wilson score intervals). Thresholds are inclusive; \"n/a\" means the run has no data for that criterion.";
    if (const VariantRecord* base = run.baseline()) out += " Variants are judged against the baseline **" + base->name + "**, which gets no verdict itself.";
    out += "\n\n";
  }
  if (!criteria.ignored_keys.empty()) {
    std::string keys;
    for (const auto& k : criteria.ignored_keys) keys += (keys.empty() ? "`" : ", `") + k + "`";
    out += "_Ignored `[report]` keys (no metric of this run declares them, or not a number): " + keys + "._\n\n";
  }
  return out;
}

}  // namespace qrun::report
