// Executive summary: one short paragraph per variant, built only from numbers in the results:
// each metric's overall headline values (as declared), the change vs the baseline by the value's
// Compare rule (not for lockstep metrics, measured against the baseline already), and the storage size. Qualitative words ("within", "above") appear only next to
// a criterion's stated threshold.
#include "report/format.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// "(+0.46 % vs fp16)", "(1.252× the time of fp16)", "(1.596× smaller than fp16)"; "" when not comparable.
std::string change_text(const MetricValue& v, const MetricValue& b, const ValueSpec& s, const std::string& base) {
  const std::string d = delta_cell(v, b, s);
  if (d.empty()) return "";
  if (s.compare == Compare::slowdown) return " (" + d + " the time of " + base + ")";
  if (s.compare == Compare::size_ratio) return " (" + d + " than " + base + ")";
  return " (" + d + " vs " + base + ")";
}

std::vector<std::string> key_numbers(const RunView& run, const VariantRecord& v, const VariantRecord* base) {
  std::vector<std::string> facts;
  for (const std::string& label : run.metric_labels) {
    const MetricCell* m = v.metric(label);
    if (!m) continue;
    const MetricSpec& spec = run.spec(label);
    if (v.baseline && spec.compares_to_baseline) continue;  // measured against itself
    // A lockstep metric's baseline value is the baseline against itself: no change to quote.
    const MetricCell* bm = base && !v.baseline && !spec.compares_to_baseline ? base->metric(label) : nullptr;
    std::vector<std::string> parts;
    for (const ValueSpec& s : spec.values) {
      const MetricValue* x = s.is_headline ? m->find(s.name) : nullptr;
      if (!x) continue;
      const MetricValue* bx = bm ? bm->find(s.name) : nullptr;
      parts.push_back(s.label + " " + value_cell(*x, s) + (bx ? change_text(*x, *bx, s, base->name) : ""));
    }
    if (!parts.empty()) facts.push_back(label + ": " + join(parts, ", "));
  }
  if (v.storage) {
    const double bytes = static_cast<double>(v.storage->total_bytes);
    std::string s = "size " + fmt_bytes(bytes);
    if (base && base->storage && !v.baseline && bytes > 0)
      s += " (" + fmt_num(static_cast<double>(base->storage->total_bytes) / bytes) + "× compression)";
    facts.push_back(s);
  }
  return facts;
}

std::string criteria_text(const RunView& run, const VariantRecord& v, const CriteriaSet& criteria) {
  std::vector<std::string> within, exceeds, unmeasured;
  for (const CriterionOutcome& o : evaluate(run, v, criteria)) {
    const std::string key = "`" + o.spec.key + "`";
    if (o.verdict == Verdict::not_applicable) {
      unmeasured.push_back(key);
      continue;
    }
    std::string s = key + " " + fmt_criterion_value(o.spec, *o.measured) + " " +
                    (o.verdict == Verdict::pass ? "within" : is_max(o.spec.rule) ? "above" : "below") + " the " +
                    fmt_threshold(o.spec, o.threshold) + " criterion";
    (o.verdict == Verdict::pass ? within : exceeds).push_back(s);
  }
  std::size_t measured = within.size() + exceeds.size();
  std::string out = " Criteria: " + std::to_string(within.size()) + " of " + std::to_string(measured) + " measured met";
  if (!within.empty()) out += " (" + join(within, ", ") + ")";
  if (!exceeds.empty()) out += "; not met: " + join(exceeds, ", ");
  if (!unmeasured.empty()) out += "; not measured: " + join(unmeasured, ", ");
  return out + ".";
}

}  // namespace

std::string render_summary(const RunView& run, const CriteriaSet& criteria) {
  std::string out = "## Executive summary\n\n";
  const VariantRecord* base = run.baseline();
  if (run.variants().empty()) return out + "_The results document holds no variants._\n\n";
  for (const VariantRecord& v : run.variants()) {
    std::vector<std::string> facts = key_numbers(run, v, base);
    std::string para = "- **" + v.name + "**" + (v.baseline ? " (baseline)" : "") + ", transforms: " + transform_chain(v) + ". ";
    if (!v.complete) para += "Incomplete: not every metric finished. ";
    para += facts.empty() ? "No headline value was measured." : "Measured " + join(facts, "; ") + ".";
    if (!v.baseline && !criteria.criteria.empty()) para += criteria_text(run, v, criteria);
    out += para + "\n";
  }
  return out + "\n";
}

}  // namespace qrun::report
