// The three behavioural metrics' value declarations: well formed, criteria keys with the rules
// the report judges them by, and no clash between the metrics (or with the other plugins).
#include "metric_support.hpp"
#include "results/declarations.hpp"

using namespace qrun;
using namespace qrun::test;

TEST_CASE("the behavioural metrics declare their values and criteria consistently", "[behaviour][declarations]") {
  std::vector<std::pair<std::string, const MetricSpec*>> all;
  for (const ComponentInfo* c : behaviour_registry().components())
    if (c->kind == Kind::metric) all.push_back({c->name, &c->metric});
  auto criteria = declared_criteria(all);
  if (!criteria) FAIL(criteria.error().message());
  auto rule_of = [&](const std::string& key) -> std::optional<Rule> {
    for (const DeclaredCriterion& d : *criteria)
      if (d.key == key) return d.rule;
    return std::nullopt;
  };
  CHECK(rule_of("max_refusal_drop_pp") == Rule::drop_pp_at_most);
  CHECK(rule_of("max_over_refusal_increase_pp") == Rule::increase_pp_at_most);
  CHECK(rule_of("max_injection_rate_pct") == Rule::at_most);
  CHECK(rule_of("max_injection_increase_pp") == Rule::increase_pp_at_most);
  CHECK(rule_of("max_flip_rate_pct") == Rule::at_most);
  CHECK(rule_of("max_mc_accuracy_drop_pp") == Rule::drop_pp_at_most);
  for (const std::string name : {"refusal", "content_injection", "multiple_choice"}) {
    auto info = behaviour_registry().find(name, Kind::metric);
    REQUIRE(info.ok());
    INFO(name);
    CHECK((*info)->metric.compares_to_baseline);
    CHECK((*info)->metric.needs_dataset);
    CHECK((*info)->metric.section == kBehaviouralSection);
    CHECK(check_spec((*info)->metric, name).ok());
  }
  auto refusal = behaviour_registry().find("refusal", Kind::metric);
  CHECK((*refusal)->metric.find("refusal_rate")->better == Better::higher);
  CHECK((*refusal)->metric.find("over_refusal_rate")->better == Better::lower);
  CHECK((*refusal)->metric.find("refusal_rate_ci_low")->unit == "%");
}
