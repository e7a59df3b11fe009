// What values and report criteria exist: the neutral ground the experiment validator (which
// [report] keys are valid), the runner (are a metric's values declared) and the report (how to
// judge and show them) share, so that none of them includes another's headers.
#pragma once

#include <qrun/metric.hpp>
#include <qrun/model.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qrun {

// The [report] key that is not a criterion.
inline constexpr std::string_view kReportTitleKey = "title";

// The framework's own per-variant storage accounting (ModelStorage), declared like a metric's
// values so that criteria on it (min_compression) work like any other. Reported as the source
// "storage".
inline constexpr std::string_view kStorageSource = "storage";
const MetricSpec& storage_spec();
std::vector<MetricValue> storage_values(const ModelStorage& s);

// A criterion's side: true when a measured value passes at or below the threshold.
bool is_max(Rule r);
// The unit of a criterion's measured value and threshold: "%" (increase, and at_most/at_least on
// "%"/"fraction" values), "pp" (drop), "×" (slowdown, ratio), else the value's own unit.
std::string criterion_unit(Rule r, const ValueSpec& v);
// A value read as a percentage: unit "%" as is, "fraction" times 100; nullopt otherwise.
std::optional<double> percent_reading(double value, std::string_view unit);

// One [report] key as the declarations define it.
struct DeclaredCriterion {
  std::string key;
  Rule rule = Rule::at_most;
  std::string unit;
  std::string doc;                       // from its first declaration
  std::vector<std::string> declared_by;  // "<metric>.<value>" for each declaration
};

// Every criterion key the given metrics (plugin id, spec) declare, plus storage's, in first
// declaration order. Error when two declarations of one key disagree on the rule or the unit.
Result<std::vector<DeclaredCriterion>> declared_criteria(
    const std::vector<std::pair<std::string, const MetricSpec*>>& metrics);

// Checks a spec: value names unique and non-empty, labels non-empty, criterion keys in
// snake_case and not "title". `thing` names the metric in errors.
Result<void> check_spec(const MetricSpec& spec, const std::string& thing);

// Checks one result against its metric's declarations: every value name declared (when the
// spec declares any) and its unit/direction as declared; fills an empty unit and an unset
// direction from the declaration. `thing` names the cell in errors.
Result<void> conform_to_spec(const MetricSpec& spec, MetricResult& r, const std::string& thing);

// The declaration of a value nobody declared: its own name as label, its recorded unit and
// direction, compared by change when directional, no chart, no criteria.
ValueSpec declare_from_record(const MetricValue& v);

}  // namespace qrun
