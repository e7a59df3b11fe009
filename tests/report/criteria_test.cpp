// Criteria: inclusive thresholds, pass/fail exactly at the boundary, n/a without data; every key
// comes from a value's declaration (the documents here declare their values as the product
// metrics do), none from the report itself.
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

json criterion(const std::string& key, const std::string& rule, const std::string& scope = "overall") {
  return {{"key", key}, {"rule", rule}, {"scope", scope}, {"doc", "measures " + key}};
}

json decl(const std::string& name, const std::string& unit, const std::string& better, json criteria) {
  return {{"name", name}, {"label", name}, {"unit", unit}, {"better", better}, {"criteria", std::move(criteria)}};
}

// The declarations these tests' metrics make (a subset of the product metrics' keys).
json declarations(const std::string& fraction_unit = "%") {
  auto metric = [](bool lockstep, json values) { return json{{"compares_to_baseline", lockstep}, {"values", std::move(values)}}; };
  json d = json::object();
  d["perplexity"] = metric(false, json::array({decl("ppl", "", "lower", json::array({criterion("max_ppl_increase_pct", "increase_pct_at_most")}))}));
  d["kl_divergence"] = metric(true, json::array({decl("kl_mean", "nats", "lower", json::array({criterion("max_kl_mean", "at_most")})),
                                                 decl("same_top_p", fraction_unit, "higher",
                                                      json::array({criterion("min_same_top_pct", "at_least")}))}));
  d["prompt_suite"] = metric(true, json::array({decl("kl_mean", "nats", "lower",
                                                     json::array({criterion("max_kl_mean", "at_most"),
                                                                  criterion("max_category_kl", "at_most", "groups")})),
                                                decl("accuracy", "%", "higher",
                                                     json::array({criterion("max_accuracy_drop_pct", "drop_pp_at_most", "all")}))}));
  d["speed"] = metric(false, json::array({decl("decode_tokens_per_s", "tokens/s", "higher",
                                               json::array({criterion("max_decode_slowdown", "slowdown_at_most")}))}));
  d["quantization_box"] = metric(true, json::array({decl("flip_rate", "%", "none", json::array({criterion("min_flip_rate_pct", "at_least")}))}));
  return d;
}

// A two-variant document: "base" (baseline) and "q", each with the given metrics and bytes.
json doc(const json& report, const json& base_metrics, const json& q_metrics, double base_bytes = 1000,
         double q_bytes = 500, const json& decls = declarations()) {
  return {{"schema_version", 1},
          {"experiment", {{"name", "t"}, {"report", report}}},
          {"provenance", json::object()},
          {"declarations", decls},
          {"complete", true},
          {"variants",
           {{{"name", "base"}, {"baseline", true}, {"complete", true}, {"storage", {{"total_bytes", base_bytes}}}, {"metrics", base_metrics}},
            {{"name", "q"}, {"baseline", false}, {"complete", true}, {"storage", {{"total_bytes", q_bytes}}}, {"metrics", q_metrics}}}}};
}

json ppl_metric(double ppl) { return {{"use", "perplexity"}, {"values", {value("ppl", ppl, "", "lower")}}}; }

RunView view(const json& d) {
  auto r = qrun::results_from_json(d);
  if (!r) FAIL(r.error().message());
  return view_of(*r);
}

CriteriaSet criteria(const RunView& run) {
  auto set = criteria_from(run);
  if (!set) FAIL(set.error().message());
  return *set;
}

Verdict verdict_of(const json& d, const std::string& key) {
  const RunView run = view(d);
  auto outcomes = evaluate(run, *run.variant("q"), criteria(run));
  for (const auto& o : outcomes)
    if (o.spec.key == key) return o.verdict;
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
  CHECK(verdict_of(doc(report, kl(100.0), kl(95.0)), "min_same_top_pct") == Verdict::pass);
  CHECK(verdict_of(doc(report, kl(100.0), kl(94.99)), "min_same_top_pct") == Verdict::fail);
  // A value declared as a fraction is read as a percentage.
  auto frac = json{{"kl", {{"use", "kl_divergence"}, {"values", {value("same_top_p", 0.95, "fraction", "higher")}}}}};
  CHECK(verdict_of(doc(report, frac, frac, 1000, 500, declarations("fraction")), "min_same_top_pct") == Verdict::pass);
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

TEST_CASE("one key declared by two metrics takes the worst value of both", "[report][criteria]") {
  json report = {{"max_kl_mean", 0.1}};
  auto both = [](double kl_a, double kl_b) {
    return json{{"kl", {{"use", "kl_divergence"}, {"values", {value("kl_mean", kl_a, "nats", "lower")}}}},
                {"suite", {{"use", "prompt_suite"}, {"values", {value("kl_mean", kl_b, "nats", "lower")}}}}};
  };
  CHECK(verdict_of(doc(report, json::object(), both(0.05, 0.1)), "max_kl_mean") == Verdict::pass);
  CHECK(verdict_of(doc(report, json::object(), both(0.05, 0.11)), "max_kl_mean") == Verdict::fail);
  CHECK(verdict_of(doc(report, json::object(), both(0.11, 0.05)), "max_kl_mean") == Verdict::fail);
}

TEST_CASE("a criterion without the values it needs is n/a with the reason", "[report][criteria]") {
  // Declared (the metrics are in the experiment) but not measured (no cell holds the values).
  const RunView run = view(doc({{"max_kl_mean", 0.1}, {"min_flip_rate_pct", 1}}, json::object(), json::object()));
  auto outcomes = evaluate(run, *run.variant("q"), criteria(run));
  REQUIRE(outcomes.size() == 2);
  for (const auto& o : outcomes) {
    CHECK(o.verdict == Verdict::not_applicable);
    CHECK_FALSE(o.reason.empty());
  }
}

TEST_CASE("report keys that no declaration defines are listed as ignored, title is not", "[report][criteria]") {
  const RunView run = view(doc({{"title", "x"}, {"max_ppl_increase_pct", "five"}, {"max_pll_increase_pct", 5}},
                               {{"perplexity", ppl_metric(10)}}, {{"perplexity", ppl_metric(10)}}));
  auto set = criteria(run);
  CHECK(set.criteria.empty());
  CHECK(set.ignored_keys == std::vector<std::string>{"max_pll_increase_pct", "max_ppl_increase_pct"});
}

TEST_CASE("a run's criteria are its metrics' declared keys plus storage's min_compression", "[report][criteria]") {
  json decls = {{"perplexity", declarations()["perplexity"]}};
  const RunView run = view(doc(json::object(), {{"perplexity", ppl_metric(10)}}, {{"perplexity", ppl_metric(10)}}, 1000, 500, decls));
  auto set = criteria(run);
  std::set<std::string> keys;
  for (const auto& s : set.available) {
    CHECK(keys.insert(s.key).second);
    CHECK_FALSE(s.doc.empty());
    CHECK_FALSE(s.unit.empty());
    CHECK((s.key.rfind("max_", 0) == 0) == qrun::is_max(s.rule));
  }
  CHECK(keys == std::set<std::string>{"max_ppl_increase_pct", "min_compression"});
  CHECK(set.find("max_ppl_increase_pct")->declared_by == std::vector<std::string>{"perplexity.ppl"});
  CHECK(set.find("title") == nullptr);
}

TEST_CASE("two declarations of one key with different rules are refused naming both", "[report][criteria]") {
  json decls = declarations();
  decls["speed"]["values"][0]["criteria"][0]["key"] = "max_kl_mean";  // a slowdown rule on a KL key
  json metrics = {{"kl", {{"use", "kl_divergence"}, {"values", json::array()}}},
                  {"speed", {{"use", "speed"}, {"values", json::array()}}}};
  auto set = criteria_from(view(doc(json::object(), metrics, metrics, 1000, 500, decls)));
  REQUIRE_FALSE(set.ok());
  CHECK(set.error().thing == "report criterion max_kl_mean");
  CHECK(set.error().reason.find("kl_divergence.kl_mean") != std::string::npos);
  CHECK(set.error().reason.find("speed.decode_tokens_per_s") != std::string::npos);
}
