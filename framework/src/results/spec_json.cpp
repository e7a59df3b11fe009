// Value declarations (qrun/metric.hpp) as recorded in results.json "declarations", and the names
// of their enums.
#include "results/results.hpp"

#include <array>
#include <utility>

namespace qrun {

namespace {

using nlohmann::json;

template <class E, std::size_t N>
std::optional<E> parse_enum(const std::array<std::pair<E, std::string_view>, N>& names, const std::string& s) {
  for (const auto& [e, name] : names)
    if (name == s) return e;
  return std::nullopt;
}

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
  for (const auto& [x, name] : names)
    if (x == e) return name;
  return "?";
}

constexpr std::array<std::pair<Compare, std::string_view>, 4> kCompare = {
    {{Compare::none, "none"}, {Compare::change, "change"}, {Compare::slowdown, "slowdown"}, {Compare::size_ratio, "size_ratio"}}};
constexpr std::array<std::pair<Chart, std::string_view>, 4> kChart = {{{Chart::none, "none"},
                                                                       {Chart::per_variant, "per_variant"},
                                                                       {Chart::change_vs_baseline, "change_vs_baseline"},
                                                                       {Chart::per_group, "per_group"}}};
constexpr std::array<std::pair<Rule, std::string_view>, 7> kRule = {{{Rule::at_most, "at_most"},
                                                                     {Rule::at_least, "at_least"},
                                                                     {Rule::increase_pct_at_most, "increase_pct_at_most"},
                                                                     {Rule::drop_pp_at_most, "drop_pp_at_most"},
                                                                     {Rule::slowdown_at_most, "slowdown_at_most"},
                                                                     {Rule::ratio_at_least, "ratio_at_least"},
                                                                     {Rule::increase_pp_at_most, "increase_pp_at_most"}}};
constexpr std::array<std::pair<Scope, std::string_view>, 3> kScope = {
    {{Scope::overall, "overall"}, {Scope::groups, "groups"}, {Scope::all, "all"}}};
constexpr std::array<std::pair<Better, std::string_view>, 3> kBetter = {
    {{Better::higher, "higher"}, {Better::lower, "lower"}, {Better::none, "none"}}};

Error bad(const std::string& thing, const std::string& expected, const json& got) {
  return Error::of(ErrorCode::corrupt_input, thing,
                   "expected " + expected + ", got " + (got.is_null() ? "nothing" : got.dump()),
                   "write results.json with qrun (do not edit it by hand) or rerun with --fresh");
}

Result<std::string> string_field(const json& j, const char* key, const std::string& thing, bool required) {
  if (!j.contains(key)) {
    if (required) return bad(thing + "." + key, "a string", json());
    return std::string();
  }
  if (!j[key].is_string()) return bad(thing + "." + key, "a string", j[key]);
  return j[key].get<std::string>();
}

template <class E, std::size_t N>
Result<E> enum_field(const json& j, const char* key, const std::array<std::pair<E, std::string_view>, N>& names,
                     E fallback, const std::string& thing) {
  if (!j.contains(key)) return fallback;
  std::string choices;
  for (const auto& [e, name] : names) choices += (choices.empty() ? "\"" : ", \"") + std::string(name) + "\"";
  if (!j[key].is_string()) return bad(thing + "." + key, "one of " + choices, j[key]);
  auto e = parse_enum(names, j[key].get<std::string>());
  if (!e) return bad(thing + "." + key, "one of " + choices, j[key]);
  return *e;
}

Result<CriterionSpec> criterion_from_json(const json& j, const std::string& thing) {
  if (!j.is_object()) return bad(thing, "an object", j);
  CriterionSpec c;
  QRUN_ASSIGN_OR_RETURN(c.key, string_field(j, "key", thing, true));
  QRUN_ASSIGN_OR_RETURN(c.rule, enum_field(j, "rule", kRule, Rule::at_most, thing));
  QRUN_ASSIGN_OR_RETURN(c.scope, enum_field(j, "scope", kScope, Scope::overall, thing));
  QRUN_ASSIGN_OR_RETURN(c.doc, string_field(j, "doc", thing, false));
  return c;
}

Result<ValueSpec> value_spec_from_json(const json& j, const std::string& thing) {
  if (!j.is_object()) return bad(thing, "an object", j);
  ValueSpec v;
  QRUN_ASSIGN_OR_RETURN(v.name, string_field(j, "name", thing, true));
  QRUN_ASSIGN_OR_RETURN(v.label, string_field(j, "label", thing, false));
  if (v.label.empty()) v.label = v.name;
  QRUN_ASSIGN_OR_RETURN(v.unit, string_field(j, "unit", thing, false));
  QRUN_ASSIGN_OR_RETURN(v.better, enum_field(j, "better", kBetter, Better::none, thing));
  QRUN_ASSIGN_OR_RETURN(v.description, string_field(j, "description", thing, false));
  QRUN_ASSIGN_OR_RETURN(v.counts, string_field(j, "counts", thing, false));
  if (j.contains("headline") && !j["headline"].is_boolean()) return bad(thing + ".headline", "true or false", j["headline"]);
  v.is_headline = j.value("headline", false);
  QRUN_ASSIGN_OR_RETURN(v.compare, enum_field(j, "compare", kCompare, Compare::none, thing));
  QRUN_ASSIGN_OR_RETURN(v.chart, enum_field(j, "chart", kChart, Chart::none, thing));
  if (j.contains("criteria")) {
    if (!j["criteria"].is_array()) return bad(thing + ".criteria", "an array", j["criteria"]);
    for (std::size_t i = 0; i < j["criteria"].size(); ++i) {
      QRUN_ASSIGN_OR_RETURN(CriterionSpec c, criterion_from_json(j["criteria"][i], thing + ".criteria[" + std::to_string(i) + "]"));
      v.criteria.push_back(std::move(c));
    }
  }
  return v;
}

}  // namespace

std::string_view to_string(Compare c) { return name_of(kCompare, c); }
std::string_view to_string(Chart c) { return name_of(kChart, c); }
std::string_view to_string(Rule r) { return name_of(kRule, r); }
std::string_view to_string(Scope s) { return name_of(kScope, s); }

json to_json(const ValueSpec& v) {
  json criteria = json::array();
  for (const CriterionSpec& c : v.criteria)
    criteria.push_back({{"key", c.key}, {"rule", to_string(c.rule)}, {"scope", to_string(c.scope)}, {"doc", c.doc}});
  return {{"name", v.name},
          {"label", v.label},
          {"unit", v.unit},
          {"better", to_string(v.better)},
          {"description", v.description},
          {"counts", v.counts},
          {"headline", v.is_headline},
          {"compare", to_string(v.compare)},
          {"chart", to_string(v.chart)},
          {"criteria", std::move(criteria)}};
}

json to_json(const MetricSpec& s) {
  json values = json::array();
  for (const ValueSpec& v : s.values) values.push_back(to_json(v));
  json j = {{"compares_to_baseline", s.compares_to_baseline}, {"needs_dataset", s.needs_dataset}, {"values", std::move(values)}};
  if (!s.section.empty()) j["section"] = s.section;
  return j;
}

Result<MetricSpec> metric_spec_from_json(const json& j, const std::string& thing) {
  if (!j.is_object()) return bad(thing, "an object", j);
  MetricSpec s;
  for (auto [key, out] : {std::pair{"compares_to_baseline", &s.compares_to_baseline}, std::pair{"needs_dataset", &s.needs_dataset}}) {
    if (j.contains(key) && !j[key].is_boolean()) return bad(thing + "." + key, "true or false", j[key]);
    *out = j.value(key, false);
  }
  if (j.contains("section")) {
    if (!j["section"].is_string()) return bad(thing + ".section", "a string", j["section"]);
    s.section = j["section"].get<std::string>();
  }
  if (j.contains("values")) {
    if (!j["values"].is_array()) return bad(thing + ".values", "an array", j["values"]);
    for (std::size_t i = 0; i < j["values"].size(); ++i) {
      QRUN_ASSIGN_OR_RETURN(ValueSpec v, value_spec_from_json(j["values"][i], thing + ".values[" + std::to_string(i) + "]"));
      s.values.push_back(std::move(v));
    }
  }
  return s;
}

}  // namespace qrun
