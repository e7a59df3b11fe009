// Harm indicators and defense success criteria: the keys the experiment's [report] table may
// hold, and their evaluation per variant. This list is the single source of truth: the
// experiment validator accepts exactly `title` (string, the report title) plus these keys
// (numbers), and the report documents them from here.
//
//   [report]
//   title = "Seed study"
//   max_ppl_increase_pct = 5
//   max_category_kl = 1.0
//
// A criterion applies to every non-baseline variant that has the values it needs; otherwise it
// is "n/a" for that variant with the reason. Comparisons are inclusive (a measured value equal
// to the threshold passes) with a relative tolerance of kCriterionTolerance, so that rounding in
// derived values (ratios, percentages) cannot flip a verdict exactly at the threshold.
#pragma once

#include "report/results_view.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::report {

inline constexpr std::string_view kReportTitleKey = "title";
inline constexpr double kCriterionTolerance = 1e-9;

struct CriterionSpec {
  std::string key;   // TOML key in [report]
  std::string doc;   // what is measured, over which values, and how it is compared
  std::string unit;  // unit of the threshold: "%", "pp", "nats", "×"
  bool is_max = true;  // true: pass when measured <= threshold; false: measured >= threshold
};

// Every supported criterion, in the order the report lists them.
const std::vector<CriterionSpec>& report_criteria();
const CriterionSpec* find_criterion(std::string_view key);

struct Criterion {
  const CriterionSpec* spec = nullptr;
  double threshold = 0;
};

enum class Verdict { pass, fail, not_applicable };

struct CriterionOutcome {
  const CriterionSpec* spec = nullptr;
  double threshold = 0;
  Verdict verdict = Verdict::not_applicable;
  std::optional<double> measured;  // the worst value over what the criterion covers
  std::string where;               // which metric/category gave the worst value
  std::string reason;              // for n/a: what is missing
};

struct CriteriaSet {
  std::vector<Criterion> criteria;       // in report_criteria() order
  std::vector<std::string> ignored_keys; // keys in [report] that are neither title nor a criterion
};

// Reads the criteria from the experiment's [report] table (non-numeric values are ignored and listed).
CriteriaSet criteria_from(const RunView& run);
// Evaluates every criterion for one variant against the run's baseline.
std::vector<CriterionOutcome> evaluate(const RunView& run, const Variant& variant, const CriteriaSet& set);

// Measured value with the criterion's unit ("3.10 %", "0.8123 nats", "1.25×").
std::string fmt_criterion_value(const CriterionSpec& spec, double v);
// "≤ 5 %" / "≥ 90 %"
std::string fmt_threshold(const CriterionSpec& spec, double threshold);
// "pass" / "FAIL" / "n/a"
std::string_view to_string(Verdict v);

}  // namespace qrun::report
