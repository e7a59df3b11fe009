// Criteria: inclusive thresholds, pass/fail exactly at the boundary, n/a without data.
#include "report/criteria.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace qrun::report;
using nlohmann::json;

namespace {

json value(const std::string& name, double v, const std::string& unit, const std::string& better,
           const std::string& group = "") {
  return {{"name", name}, {"value", v}, {"stderr", nullptr}, {"n", 100}, {"unit", unit}, {"better", better}, {"group", group}};
}

// A two-variant document: "base" (baseline) and "q", each with the given metrics and bytes.
json doc(const json& report, const json& base_metrics, const json& q_metrics, double base_bytes = 1000,
         double q_bytes = 500) {
  return {{"schema_version", 1},
          {"experiment", {{"name", "t"}, {"report", report}}},
          {"provenance", json::object()},
          {"complete", true},
          {"variants",
           {{{"name", "base"}, {"baseline", true}, {"complete", true}, {"storage", {{"total_bytes", base_bytes}}}, {"metrics", base_metrics}},
            {{"name", "q"}, {"baseline", false}, {"complete", true}, {"storage", {{"total_bytes", q_bytes}}}, {"metrics", q_metrics}}}}};
}

json ppl_metric(double ppl) { return {{"use", "perplexity"}, {"values", {value("ppl", ppl, "", "lower")}}}; }

Verdict verdict_of(const json& d, const std::string& key) {
  auto run = view_results(d);
  REQUIRE(run.ok());
  auto set = criteria_from(*run);
  auto outcomes = evaluate(*run, *run->variant("q"), set);
  for (const auto& o : outcomes)
    if (o.spec->key == key) return o.verdict;
  FAIL("criterion " << key << " was not evaluated");
  return Verdict::not_applicable;
}

}  // namespace

TEST_CASE("a perplexity increase exactly at the threshold passes and just above fails", "[report][criteria]") {
  json report = {{"max_ppl_increase_pct", 5}};
  CHECK(verdict_of(doc(report, {{"perplexity", ppl_metric(10.0)}}, {{"perplexity", ppl_metric(10.5)}}),
                   "max_ppl_increase_pct") == Verdict::pass);
  CHECK(verdict_of(doc(report, {{"perplexity", ppl_metric(10.0)}}, {{"perplexity", ppl_metric(10.5001)}}),
                   "max_ppl_increase_pct") == Verdict::fail);
}

TEST_CASE("a minimum criterion passes at its threshold and fails just below", "[report][criteria]") {
  json report = {{"min_same_top_pct", 95}};
  auto kl = [](double same) { return json{{"kl", {{"use", "kl_divergence"}, {"values", {value("same_top_p", same, "%", "higher")}}}}}; };
  CHECK(verdict_of(doc(report, json::object(), kl(95.0)), "min_same_top_pct") == Verdict::pass);
  CHECK(verdict_of(doc(report, json::object(), kl(94.99)), "min_same_top_pct") == Verdict::fail);
  // A fraction (unit "") is read as a percentage.
  auto frac = json{{"kl", {{"use", "kl_divergence"}, {"values", {value("same_top_p", 0.95, "", "higher")}}}}};
  CHECK(verdict_of(doc(report, json::object(), frac), "min_same_top_pct") == Verdict::pass);
}

TEST_CASE("compression and slowdown are ratios to the baseline judged at the boundary", "[report][criteria]") {
  json report = {{"min_compression", 2}, {"max_decode_slowdown", 1.25}};
  auto speed = [](double tps) {
    return json{{"speed", {{"use", "speed"}, {"values", {value("decode_tokens_per_s", tps, "tokens/s", "higher")}}}}};
  };
  CHECK(verdict_of(doc(report, speed(50), speed(40), 1000, 500), "min_compression") == Verdict::pass);
  CHECK(verdict_of(doc(report, speed(50), speed(40), 1000, 501), "min_compression") == Verdict::fail);
  CHECK(verdict_of(doc(report, speed(50), speed(40)), "max_decode_slowdown") == Verdict::pass);     // 50/40 = 1.25
  CHECK(verdict_of(doc(report, speed(50), speed(39.99)), "max_decode_slowdown") == Verdict::fail);  // 1.2503
}

TEST_CASE("the worst category decides a per-category criterion", "[report][criteria]") {
  json report = {{"max_category_kl", 1.0}, {"max_accuracy_drop_pct", 25}};
  auto suite = [](double kl_b, double acc_b) {
    return json{{"prompt_suite",
                 {{"use", "prompt_suite"},
                  {"values",
                   {value("kl_mean", 0.2, "nats", "lower", "math"), value("kl_mean", kl_b, "nats", "lower", "code"),
                    value("accuracy", 75, "%", "higher", "math"), value("accuracy", acc_b, "%", "higher", "code")}}}}};
  };
  json base = {{"prompt_suite", {{"use", "prompt_suite"}, {"values", {value("accuracy", 75, "%", "higher", "math"), value("accuracy", 100, "%", "higher", "code")}}}}};
  CHECK(verdict_of(doc(report, base, suite(1.0, 75)), "max_category_kl") == Verdict::pass);
  CHECK(verdict_of(doc(report, base, suite(1.01, 75)), "max_category_kl") == Verdict::fail);
  CHECK(verdict_of(doc(report, base, suite(0.5, 75)), "max_accuracy_drop_pct") == Verdict::pass);   // 25 pp
  CHECK(verdict_of(doc(report, base, suite(0.5, 62.5)), "max_accuracy_drop_pct") == Verdict::fail); // 37.5 pp
}

TEST_CASE("a criterion without the values it needs is n/a with the reason", "[report][criteria]") {
  auto run = view_results(doc({{"max_kl_mean", 0.1}, {"min_flip_rate_pct", 1}}, json::object(), json::object()));
  REQUIRE(run.ok());
  auto outcomes = evaluate(*run, *run->variant("q"), criteria_from(*run));
  REQUIRE(outcomes.size() == 2);
  for (const auto& o : outcomes) {
    CHECK(o.verdict == Verdict::not_applicable);
    CHECK_FALSE(o.reason.empty());
  }
}

TEST_CASE("report keys that are not criteria are listed as ignored, title is not", "[report][criteria]") {
  auto run = view_results(doc({{"title", "x"}, {"max_ppl_increase_pct", "five"}, {"max_pll_increase_pct", 5}},
                              json::object(), json::object()));
  REQUIRE(run.ok());
  auto set = criteria_from(*run);
  CHECK(set.criteria.empty());
  CHECK(set.ignored_keys == std::vector<std::string>{"max_pll_increase_pct", "max_ppl_increase_pct"});
}

TEST_CASE("every criterion key is unique, documented and has a unit", "[report][criteria]") {
  std::set<std::string> keys;
  for (const auto& s : report_criteria()) {
    CHECK(keys.insert(s.key).second);
    CHECK_FALSE(s.doc.empty());
    CHECK_FALSE(s.unit.empty());
    CHECK((s.key.rfind("max_", 0) == 0) == s.is_max);
  }
  CHECK(find_criterion("max_ppl_increase_pct") != nullptr);
  CHECK(find_criterion("title") == nullptr);
}
