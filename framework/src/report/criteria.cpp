#include "report/criteria.hpp"

#include "report/format.hpp"

#include <cmath>
#include <functional>

namespace qrun::report {

namespace {

const std::vector<CriterionSpec> kSpecs = {
    {"max_ppl_increase_pct",
     "Perplexity increase vs the baseline, 100·(PPL − PPL_base)/PPL_base, worst over every metric with an "
     "overall `ppl` value", "%", true},
    {"max_kl_mean", "Mean token KL(P_base ‖ P_variant), worst over every metric with an overall `kl_mean`",
     "nats", true},
    {"max_category_kl", "Mean KL of the worst category: the largest per-category `kl_mean` (e.g. prompt suite)",
     "nats", true},
    {"min_same_top_pct", "Argmax agreement with the baseline, lowest overall `same_top_p`", "%", false},
    {"max_success_drop_pct",
     "Generation success rate lost vs the baseline in percentage points, worst over every `success_rate` the "
     "baseline also has (overall and per category)", "pp", true},
    {"max_accuracy_drop_pct",
     "Answer accuracy lost vs the baseline in percentage points, worst over every `accuracy` the baseline also has "
     "(overall and per category)", "pp", true},
    {"min_agreement_pct", "Exact output agreement with the baseline, lowest `agreement` over every category and overall",
     "%", false},
    {"max_prefill_slowdown", "Prefill slowdown vs the baseline, baseline `prefill_tokens_per_s` / variant's", "×",
     true},
    {"max_decode_slowdown", "Decode slowdown vs the baseline, baseline `decode_tokens_per_s` / variant's", "×",
     true},
    {"min_compression",
     "Compression vs the baseline, baseline total bytes / variant total bytes (from each variant's storage "
     "accounting, else a `total_bytes` value)", "×", false},
    {"min_flip_rate_pct",
     "Fraction of quantized codes a defense changes (quantization_box `flip_rate`), lowest overall value", "%",
     false},
};

struct Measure {
  std::optional<double> value;
  std::string where;
  std::string missing;  // reason when value is empty
};

// Keeps the worst of several measurements (largest for max criteria, smallest for min).
struct Worst {
  bool is_max;
  Measure m;
  void offer(double v, const std::string& where) {
    if (!std::isfinite(v)) return;
    if (!m.value || (is_max ? v > *m.value : v < *m.value)) m = {v, where, ""};
  }
};

std::string where_of(const MetricEntry& m, const Value& v) {
  return v.group.empty() ? m.label : m.label + " / " + v.group;
}

// Every value named `name` of the variant (overall only when `overall_only`), as percent when `percent`.
void scan(Worst& w, const Variant& var, const std::string& name, bool overall_only, bool percent) {
  for (const auto& m : var.metrics)
    for (const auto& v : m.values) {
      if (v.name != name || (overall_only && !v.group.empty())) continue;
      if (percent) {
        if (auto p = as_percent(v)) w.offer(*p, where_of(m, v));
      } else {
        w.offer(v.value, where_of(m, v));
      }
    }
}

// Values that need the baseline's value of the same metric label, name and group.
void scan_vs_base(Worst& w, const Variant& var, const Variant& base, const std::string& name, bool overall_only,
                  const std::function<std::optional<double>(const Value&, const Value&)>& f) {
  for (const auto& m : var.metrics) {
    const MetricEntry* bm = base.metric(m.label);
    if (!bm) continue;
    for (const auto& v : m.values) {
      if (v.name != name || (overall_only && !v.group.empty())) continue;
      if (const Value* bv = bm->find(v.name, v.group))
        if (auto x = f(v, *bv)) w.offer(*x, where_of(m, v));
    }
  }
}

std::optional<double> total_bytes(const Variant& v) {
  if (auto b = v.storage_value("total_bytes")) return b;
  for (const auto& m : v.metrics)
    if (const Value* x = m.find("total_bytes")) return x->value;
  return std::nullopt;
}

Measure measure(const CriterionSpec& spec, const RunView& run, const Variant& var) {
  const Variant* base = run.baseline();
  Worst w{spec.is_max, {}};
  const std::string& k = spec.key;
  auto need_base = [&]() -> bool { return base != nullptr; };
  if (k == "max_ppl_increase_pct") {
    if (!need_base()) return {{}, "", "no baseline variant"};
    scan_vs_base(w, var, *base, "ppl", true, [](const Value& v, const Value& b) { return pct_change(v.value, b.value); });
    if (!w.m.value) w.m.missing = "no `ppl` in both this variant and the baseline";
  } else if (k == "max_kl_mean") {
    scan(w, var, "kl_mean", true, false);
    if (!w.m.value) w.m.missing = "no overall `kl_mean`";
  } else if (k == "max_category_kl") {
    for (const auto& m : var.metrics)
      for (const auto& v : m.values)
        if (v.name == "kl_mean" && !v.group.empty()) w.offer(v.value, where_of(m, v));
    if (!w.m.value) w.m.missing = "no per-category `kl_mean`";
  } else if (k == "min_same_top_pct") {
    scan(w, var, "same_top_p", true, true);
    if (!w.m.value) w.m.missing = "no overall `same_top_p`";
  } else if (k == "max_success_drop_pct" || k == "max_accuracy_drop_pct") {
    if (!need_base()) return {{}, "", "no baseline variant"};
    std::string name = k == "max_success_drop_pct" ? "success_rate" : "accuracy";
    scan_vs_base(w, var, *base, name, false, [](const Value& v, const Value& b) -> std::optional<double> {
      auto pv = as_percent(v), pb = as_percent(b);
      if (!pv || !pb) return std::nullopt;
      return *pb - *pv;  // percentage points lost
    });
    if (!w.m.value) w.m.missing = "no `" + name + "` in both this variant and the baseline";
  } else if (k == "min_agreement_pct") {
    scan(w, var, "agreement", false, true);
    if (!w.m.value) w.m.missing = "no `agreement`";
  } else if (k == "max_prefill_slowdown" || k == "max_decode_slowdown") {
    if (!need_base()) return {{}, "", "no baseline variant"};
    std::string name = k == "max_prefill_slowdown" ? "prefill_tokens_per_s" : "decode_tokens_per_s";
    scan_vs_base(w, var, *base, name, true, [](const Value& v, const Value& b) -> std::optional<double> {
      if (!(v.value > 0)) return std::nullopt;
      return b.value / v.value;  // tokens/s: baseline over variant = how many times slower
    });
    if (!w.m.value) w.m.missing = "no `" + name + "` in both this variant and the baseline";
  } else if (k == "min_compression") {
    if (!need_base()) return {{}, "", "no baseline variant"};
    auto vb = total_bytes(var), bb = total_bytes(*base);
    if (vb && bb && *vb > 0) w.offer(*bb / *vb, "storage");
    else w.m.missing = "no total bytes for this variant and the baseline";
  } else if (k == "min_flip_rate_pct") {
    scan(w, var, "flip_rate", true, true);
    if (!w.m.value) w.m.missing = "no overall `flip_rate`";
  }
  return w.m;
}

bool passes(const CriterionSpec& spec, double measured, double threshold) {
  double tol = kCriterionTolerance * std::max(1.0, std::fabs(threshold));
  return spec.is_max ? measured <= threshold + tol : measured >= threshold - tol;
}

}  // namespace

const std::vector<CriterionSpec>& report_criteria() { return kSpecs; }

const CriterionSpec* find_criterion(std::string_view key) {
  for (const auto& s : kSpecs)
    if (s.key == key) return &s;
  return nullptr;
}

CriteriaSet criteria_from(const RunView& run) {
  CriteriaSet set;
  for (const auto& spec : kSpecs) {
    auto it = run.report_table.find(spec.key);
    if (it != run.report_table.end() && it->is_number()) set.criteria.push_back({&spec, it->get<double>()});
  }
  for (const auto& [key, value] : run.report_table.items()) {
    const CriterionSpec* spec = find_criterion(key);
    bool known = key == kReportTitleKey || (spec && value.is_number());
    if (!known) set.ignored_keys.push_back(key);
  }
  return set;
}

std::vector<CriterionOutcome> evaluate(const RunView& run, const Variant& variant, const CriteriaSet& set) {
  std::vector<CriterionOutcome> out;
  for (const auto& c : set.criteria) {
    CriterionOutcome o;
    o.spec = c.spec;
    o.threshold = c.threshold;
    Measure m = measure(*c.spec, run, variant);
    o.measured = m.value;
    o.where = m.where;
    o.reason = m.missing;
    if (m.value) o.verdict = passes(*c.spec, *m.value, c.threshold) ? Verdict::pass : Verdict::fail;
    out.push_back(std::move(o));
  }
  return out;
}

std::string fmt_criterion_value(const CriterionSpec& spec, double v) {
  if (spec.unit == "×") return fmt_num(v) + "×";
  return fmt_num(v) + " " + spec.unit;
}

std::string fmt_threshold(const CriterionSpec& spec, double threshold) {
  std::string t = spec.unit == "×" ? fmt_short(threshold) + "×" : fmt_short(threshold) + " " + spec.unit;
  return (spec.is_max ? "≤ " : "≥ ") + t;
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "FAIL";
    default: return "n/a";
  }
}

}  // namespace qrun::report
