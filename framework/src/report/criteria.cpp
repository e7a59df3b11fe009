// Criteria from the declarations: which values a key covers, how each rule measures, verdicts.
#include "report/criteria.hpp"

#include "report/format.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

struct Measure {
  std::optional<double> value;
  std::string where;
  std::string missing;   // reason when value is empty
  std::string evidence;  // the intervals behind the worst value ("" when none are declared)
};

// Keeps the worst of several measurements (largest for max criteria, smallest for min).
struct Worst {
  bool is_max;
  Measure m;
  void offer(double v, const std::string& where, const std::string& evidence) {
    if (!std::isfinite(v)) return;
    if (!m.value || (is_max ? v > *m.value : v < *m.value)) m = {v, where, "", evidence};
  }
};

const MetricValue* find_record(const std::vector<MetricValue>& values, const std::string& name, const std::string& group) {
  auto it = std::find_if(values.begin(), values.end(), [&](const MetricValue& x) { return x.name == name && x.group == group; });
  return it == values.end() ? nullptr : &*it;
}

// "84.2 % [80.1, 87.6]": the value with its declared interval (ValueSpec: `<name>_ci_low` and
// `<name>_ci_high` of the same group); "" when the metric recorded no interval for it.
std::string with_interval(const std::vector<MetricValue>& values, const MetricValue& v, const std::string& unit) {
  const MetricValue* lo = find_record(values, v.name + "_ci_low", v.group);
  const MetricValue* hi = find_record(values, v.name + "_ci_high", v.group);
  if (!lo || !hi) return "";
  const std::string u = unit.empty() ? "" : " " + unit;
  return fmt_num(v.value) + u + " [" + fmt_num(lo->value) + ", " + fmt_num(hi->value) + "]";
}

// The intervals behind one measured value: the variant's, and the baseline's for a rule
// against the baseline ("variant 84.2 % [80.1, 87.6] vs baseline 87.3 % [83.5, 90.4]").
std::string evidence_of(Rule rule, const MetricValue& v, const MetricValue* base, const std::vector<MetricValue>& values,
                        const std::vector<MetricValue>& base_values, const std::string& unit) {
  const std::string var = with_interval(values, v, unit);
  if (var.empty()) return "";
  if (rule == Rule::at_most || rule == Rule::at_least || !base) return "CI " + var;
  const std::string b = with_interval(base_values, *base, unit);
  return "variant " + var + (b.empty() ? "" : " vs baseline " + b);
}

bool needs_baseline(Rule r) { return r != Rule::at_most && r != Rule::at_least; }

bool in_scope(Scope s, const MetricValue& v) {
  return s == Scope::all || (s == Scope::overall) == v.group.empty();
}

// The number a rule compares with the threshold; nullopt when it cannot be formed.
std::optional<double> apply(Rule rule, const MetricValue& v, const MetricValue* base, const std::string& unit) {
  const auto reading = [&](const MetricValue& x) { return percent_reading(x.value, unit).value_or(x.value); };
  switch (rule) {
    case Rule::at_most:
    case Rule::at_least: return reading(v);
    case Rule::increase_pct_at_most: return base ? pct_change(v.value, base->value) : std::nullopt;
    case Rule::drop_pp_at_most: return base ? std::optional<double>(reading(*base) - reading(v)) : std::nullopt;
    case Rule::increase_pp_at_most: return base ? std::optional<double>(reading(v) - reading(*base)) : std::nullopt;
    case Rule::slowdown_at_most:
      if (!base || !(v.value > 0)) return std::nullopt;
      return base->value / v.value;  // throughput: baseline over variant = how many times slower
    case Rule::ratio_at_least:
      if (!base || !(v.value > 0) || !(base->value > 0)) return std::nullopt;
      return base->value / v.value;  // sizes: baseline over variant = compression
  }
  return std::nullopt;
}

// One source of values: a metric cell (label) or the storage accounting.
struct Source {
  std::string label;
  const MetricSpec* spec;
  std::vector<MetricValue> values, base_values;
};

std::vector<Source> sources(const RunView& run, const VariantRecord& var) {
  const VariantRecord* base = run.baseline();
  std::vector<Source> out;
  for (const std::string& label : run.metric_labels) {
    const MetricCell* cell = var.metric(label);
    if (!cell) continue;
    const MetricCell* bcell = base ? base->metric(label) : nullptr;
    out.push_back({label, &run.doc.spec(cell->use), cell->result.values,
                   bcell ? bcell->result.values : std::vector<MetricValue>{}});
  }
  if (var.storage)
    out.push_back({std::string(kStorageSource), &storage_spec(), storage_values(*var.storage),
                   base && base->storage ? storage_values(*base->storage) : std::vector<MetricValue>{}});
  return out;
}

Measure measure(const DeclaredCriterion& c, const RunView& run, const VariantRecord& var) {
  if (needs_baseline(c.rule) && !run.baseline()) return {{}, "", "no baseline variant"};
  Worst w{is_max(c.rule), {}};
  Scope scope = Scope::all;
  for (const Source& s : sources(run, var))
    for (const ValueSpec& vs : s.spec->values)
      for (const CriterionSpec& cs : vs.criteria) {
        if (cs.key != c.key) continue;
        scope = cs.scope;
        for (const MetricValue& v : s.values) {
          if (v.name != vs.name || !in_scope(cs.scope, v)) continue;
          const MetricValue* bv = find_record(s.base_values, v.name, v.group);
          if (auto x = apply(cs.rule, v, bv, vs.unit))
            w.offer(*x, v.group.empty() ? s.label : s.label + " / " + v.group,
                    evidence_of(cs.rule, v, bv, s.values, s.base_values, vs.unit));
        }
      }
  if (!w.m.value) {
    std::string list;
    for (const std::string& d : c.declared_by) list += (list.empty() ? "`" : "`, `") + d;
    const std::string which = scope == Scope::overall ? "overall " : scope == Scope::groups ? "per-group " : "";
    w.m.missing = "no " + which + list + "`" + (needs_baseline(c.rule) ? " in both this variant and the baseline" : "");
  }
  return w.m;
}

bool passes(const DeclaredCriterion& spec, double measured, double threshold) {
  double tol = kCriterionTolerance * std::max(1.0, std::fabs(threshold));
  return is_max(spec.rule) ? measured <= threshold + tol : measured >= threshold - tol;
}

std::string with_unit(const std::string& number, const std::string& unit) {
  if (unit == "×") return number + "×";
  return unit.empty() ? number : number + " " + unit;
}

}  // namespace

const DeclaredCriterion* CriteriaSet::find(std::string_view key) const {
  for (const DeclaredCriterion& c : available)
    if (c.key == key) return &c;
  return nullptr;
}

Result<CriteriaSet> criteria_from(const RunView& run) {
  // Every recorded declaration (a metric that has not run yet still defines its keys): the
  // metrics in report order first, then the others.
  std::vector<std::pair<std::string, const MetricSpec*>> metrics;
  auto add = [&](const std::string& use) {
    if (std::none_of(metrics.begin(), metrics.end(), [&](const auto& m) { return m.first == use; }))
      metrics.push_back({use, &run.doc.spec(use)});
  };
  for (const std::string& label : run.metric_labels) add(run.any_metric(label)->use);
  for (const auto& [use, spec] : run.doc.declarations) add(use);
  auto available = declared_criteria(metrics);
  if (!available) return available.error();
  CriteriaSet set;
  set.available = std::move(*available);
  const nlohmann::json table = run.doc.report_table();
  for (const DeclaredCriterion& c : set.available) {
    auto it = table.find(c.key);
    if (it != table.end() && it->is_number()) set.criteria.push_back({c, it->get<double>()});
  }
  for (const auto& [key, value] : table.items()) {
    bool known = key == kReportTitleKey || (set.find(key) && value.is_number());
    if (!known) set.ignored_keys.push_back(key);
  }
  return set;
}

std::vector<CriterionOutcome> evaluate(const RunView& run, const VariantRecord& variant, const CriteriaSet& set) {
  std::vector<CriterionOutcome> out;
  for (const Criterion& c : set.criteria) {
    CriterionOutcome o;
    o.spec = c.spec;
    o.threshold = c.threshold;
    Measure m = measure(c.spec, run, variant);
    o.measured = m.value;
    o.where = m.where;
    o.reason = m.missing;
    o.evidence = m.evidence;
    if (m.value) o.verdict = passes(c.spec, *m.value, c.threshold) ? Verdict::pass : Verdict::fail;
    out.push_back(std::move(o));
  }
  return out;
}

std::string fmt_criterion_value(const DeclaredCriterion& spec, double v) { return with_unit(fmt_num(v), spec.unit); }

std::string fmt_threshold(const DeclaredCriterion& spec, double threshold) {
  return (is_max(spec.rule) ? "≤ " : "≥ ") + with_unit(fmt_short(threshold), spec.unit);
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "FAIL";
    default: return "n/a";
  }
}

}  // namespace qrun::report
