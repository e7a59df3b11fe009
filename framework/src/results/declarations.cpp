// Declared values and criteria: storage's own declarations, the criterion catalog, checks.
#include "results/declarations.hpp"

#include <algorithm>
#include <cctype>

namespace qrun {

namespace {

bool snake_case(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

const MetricSpec& storage_spec() {
  static const MetricSpec spec = [] {
    MetricSpec s;
    s.values = {
        value("total_bytes", "total size", "bytes", Better::lower)
            .doc("Bytes the model holds: every linear layer as stored plus every other tensor")
            .compared(Compare::size_ratio)
            .criterion("min_compression", Rule::ratio_at_least,
                       "Compression vs the baseline: baseline total bytes / variant total bytes (each variant's "
                       "storage accounting of the loaded tensors)"),
        value("linear_bytes", "linear size", "bytes", Better::lower)
            .doc("Bytes of the linear layers as stored (codes, scales, metadata, bias)")
            .compared(Compare::size_ratio),
        value("quantized_linear_bytes", "quantized linear size", "bytes").doc("Bytes of the quantized linear layers"),
        value("hf_footprint_bytes", "HF footprint", "bytes", Better::lower)
            .doc("What transformers' get_memory_footprint() would count")
            .compared(Compare::size_ratio),
        value("parameters", "parameters").doc("Logical parameter count (unquantized)"),
    };
    return s;
  }();
  return spec;
}

std::vector<MetricValue> storage_values(const ModelStorage& s) {
  auto v = [](const char* name, std::int64_t x, const char* unit, Better b) {
    return MetricValue{name, static_cast<double>(x), std::nullopt, 1, unit, b, ""};
  };
  return {v("total_bytes", s.total_bytes, "bytes", Better::lower),
          v("linear_bytes", s.linear_bytes, "bytes", Better::lower),
          v("quantized_linear_bytes", s.quantized_linear_bytes, "bytes", Better::none),
          v("hf_footprint_bytes", s.hf_footprint_bytes, "bytes", Better::lower),
          v("parameters", s.parameters, "", Better::none)};
}

bool is_max(Rule r) {
  switch (r) {
    case Rule::at_least:
    case Rule::ratio_at_least: return false;
    default: return true;
  }
}

std::optional<double> percent_reading(double value, std::string_view unit) {
  if (unit == "%") return value;
  if (unit == "fraction") return 100.0 * value;
  return std::nullopt;
}

std::string criterion_unit(Rule r, const ValueSpec& v) {
  switch (r) {
    case Rule::increase_pct_at_most: return "%";
    case Rule::drop_pp_at_most:
    case Rule::increase_pp_at_most: return "pp";
    case Rule::slowdown_at_most:
    case Rule::ratio_at_least: return "×";
    default: return percent_reading(0, v.unit) ? "%" : v.unit;
  }
}

Result<std::vector<DeclaredCriterion>> declared_criteria(
    const std::vector<std::pair<std::string, const MetricSpec*>>& metrics) {
  std::vector<DeclaredCriterion> out;
  auto add = [&](const std::string& source, const MetricSpec& spec) -> Result<void> {
    for (const ValueSpec& v : spec.values)
      for (const CriterionSpec& c : v.criteria) {
        const std::string by = source + "." + v.name;
        const std::string unit = criterion_unit(c.rule, v);
        auto it = std::find_if(out.begin(), out.end(), [&](const DeclaredCriterion& d) { return d.key == c.key; });
        if (it == out.end()) {
          out.push_back({c.key, c.rule, unit, c.doc, {by}});
          continue;
        }
        if (it->rule != c.rule || it->unit != unit)
          return Error{"report criterion " + c.key,
                       "is declared by " + it->declared_by.front() + " (" + std::string(to_string(it->rule)) + ", " +
                           it->unit + ") and by " + by + " (" + std::string(to_string(c.rule)) + ", " + unit + ")",
                       "declare one key with one rule and unit; give the other value its own key"};
        it->declared_by.push_back(by);
      }
    return {};
  };
  for (const auto& [name, spec] : metrics) QRUN_TRY(add(name, *spec));
  QRUN_TRY(add(std::string(kStorageSource), storage_spec()));
  return out;
}

Result<void> check_spec(const MetricSpec& spec, const std::string& thing) {
  std::vector<std::string> seen;
  for (const ValueSpec& v : spec.values) {
    const std::string at = thing + " value " + (v.name.empty() ? "\"\"" : v.name);
    if (v.name.empty()) return Error{at, "has no name", "give every declared value the name its MetricValue carries"};
    if (std::find(seen.begin(), seen.end(), v.name) != seen.end())
      return Error{at, "is declared twice", "declare each value name once"};
    seen.push_back(v.name);
    if (v.label.empty()) return Error{at, "has no label", "give it a short display label, e.g. \"PPL\""};
    for (const CriterionSpec& c : v.criteria) {
      if (!snake_case(c.key) || c.key == kReportTitleKey)
        return Error{at + " criterion \"" + c.key + "\"", "is not a usable [report] key",
                     "use a snake_case key other than \"title\", e.g. max_" + v.name};
      if (c.doc.empty()) return Error{at + " criterion " + c.key, "has no doc", "say in one line what it measures"};
    }
  }
  return {};
}

Result<void> conform_to_spec(const MetricSpec& spec, MetricResult& r, const std::string& thing) {
  if (spec.values.empty()) return {};
  for (MetricValue& v : r.values) {
    const ValueSpec* d = spec.find(v.name);
    const std::string at = thing + " value " + v.name + (v.group.empty() ? "" : " [" + v.group + "]");
    if (!d) {
      std::string names;
      for (const ValueSpec& s : spec.values) names += (names.empty() ? "" : ", ") + s.name;
      return Error{at, "is not among the metric's declared values (" + names + ")",
                   "declare it in the metric's MetricSpec::values"};
    }
    if (v.unit.empty()) v.unit = d->unit;
    if (v.better == Better::none) v.better = d->better;
    if (v.unit != d->unit || v.better != d->better)
      return Error{at,
                   "carries unit \"" + v.unit + "\", better " + std::string(to_string(v.better)) + " but is declared with \"" +
                       d->unit + "\", " + std::string(to_string(d->better)),
                   "make the value and its declaration agree (or leave unit and better unset in the value)"};
  }
  return {};
}

ValueSpec declare_from_record(const MetricValue& v) { return value(v.name, v.name, v.unit, v.better); }

}  // namespace qrun
