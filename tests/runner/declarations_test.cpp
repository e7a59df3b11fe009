// Value declarations as the runner uses them: a cell is checked against its metric's MetricSpec,
// a spec is checked before the run, criteria keys merge across metrics; results.json records the
// declarations and the --set overrides so that the report needs no plugin.
#include "../experiment/test_registry.hpp"
#include "plan/plan.hpp"
#include "results/declarations.hpp"
#include "run_fixture.hpp"
#include "runner/runner.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

qrun::MetricSpec ppl_spec() {
  return qrun::MetricSpec{.compares_to_baseline = false,
                          .needs_dataset = true,
                          .values = {qrun::value("ppl", "PPL", "", qrun::Better::lower)
                                         .criterion("max_ppl_increase_pct", qrun::Rule::increase_pct_at_most, "ppl up")}};
}

qrun::MetricResult result_of(qrun::MetricValue v) {
  qrun::MetricResult r;
  r.values.push_back(std::move(v));
  return r;
}

}  // namespace

TEST_CASE("a value the metric does not declare is refused naming the cell and the declared names", "[runner][declarations]") {
  auto r = result_of({"perplexity", 12.0, std::nullopt, 10, "", qrun::Better::lower, ""});
  auto ok = qrun::conform_to_spec(ppl_spec(), r, "perplexity (metric 'ppl' on variant 'q')");
  REQUIRE_FALSE(ok.ok());
  CHECK(ok.error().thing == "perplexity (metric 'ppl' on variant 'q') value perplexity");
  CHECK(ok.error().reason.find("(ppl)") != std::string::npos);
  CHECK(ok.error().fix.find("MetricSpec::values") != std::string::npos);
}

TEST_CASE("a value without unit and direction takes its declaration's; a contradicting one is refused", "[runner][declarations]") {
  qrun::MetricSpec spec = ppl_spec();
  spec.values[0].unit = "nats";
  auto r = result_of({"ppl", 12.0, std::nullopt, 10, "", qrun::Better::none, ""});
  REQUIRE(qrun::conform_to_spec(spec, r, "m").ok());
  CHECK(r.values[0].unit == "nats");
  CHECK(r.values[0].better == qrun::Better::lower);
  auto wrong = result_of({"ppl", 12.0, std::nullopt, 10, "nats", qrun::Better::higher, ""});
  auto e = qrun::conform_to_spec(spec, wrong, "m");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "m value ppl");
}

TEST_CASE("a metric that declares nothing keeps its values as they come", "[runner][declarations]") {
  auto r = result_of({"anything", 1.0, std::nullopt, 1, "widgets", qrun::Better::higher, ""});
  REQUIRE(qrun::conform_to_spec(qrun::MetricSpec{}, r, "m").ok());
  CHECK(r.values[0].unit == "widgets");
}

TEST_CASE("a spec with a repeated value, a missing label or an unusable criterion key is refused", "[runner][declarations]") {
  qrun::MetricSpec twice = ppl_spec();
  twice.values.push_back(twice.values[0]);
  CHECK(qrun::check_spec(twice, "metric plugin x").error().thing == "metric plugin x value ppl");
  qrun::MetricSpec unlabelled{.values = {qrun::value("ppl", "")}};
  CHECK(qrun::check_spec(unlabelled, "p").error().reason == "has no label");
  qrun::MetricSpec title{.values = {qrun::value("ppl", "PPL").criterion("title", qrun::Rule::at_most, "x")}};
  CHECK(qrun::check_spec(title, "p").error().reason == "is not a usable [report] key");
  qrun::MetricSpec spaced{.values = {qrun::value("ppl", "PPL").criterion("Max PPL", qrun::Rule::at_most, "x")}};
  CHECK_FALSE(qrun::check_spec(spaced, "p").ok());
  CHECK(qrun::check_spec(ppl_spec(), "p").ok());
}

TEST_CASE("criteria keys merge over metrics and storage; a rule conflict names both declarations", "[runner][declarations]") {
  const qrun::MetricSpec a = ppl_spec(), b = ppl_spec();
  auto merged = qrun::declared_criteria({{"perplexity", &a}, {"other", &b}});
  REQUIRE(merged.ok());
  REQUIRE(merged->size() == 2);
  CHECK((*merged)[0].key == "max_ppl_increase_pct");
  CHECK((*merged)[0].unit == "%");
  CHECK((*merged)[0].declared_by == std::vector<std::string>{"perplexity.ppl", "other.ppl"});
  CHECK((*merged)[1].key == "min_compression");
  CHECK((*merged)[1].declared_by == std::vector<std::string>{"storage.total_bytes"});
  qrun::MetricSpec c = ppl_spec();
  c.values[0].criteria[0].rule = qrun::Rule::at_most;
  auto conflict = qrun::declared_criteria({{"perplexity", &a}, {"other", &c}});
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().thing == "report criterion max_ppl_increase_pct");
}

TEST_CASE("results.json records each metric's declarations and the run's --set overrides", "[runner][declarations]") {
  RunFolder f("runner_declarations");
  qrun::LoadOptions options;
  options.overrides = f.overrides({"metrics[2].use=test_logits"});
  auto e = qrun::load_experiment(f.toml, test_registry(), options);
  REQUIRE(e.ok());
  qrun::RunOptions run_options;
  run_options.write_report = false;
  REQUIRE(qrun::run_experiment(qrun::make_plan(*e, options.overrides), test_registry(), run_options).ok());
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["provenance"]["overrides"] == nlohmann::json(options.overrides));
  const auto& d = doc["declarations"];
  CHECK(d["test_weight_sum"]["values"].empty());  // declares nothing
  CHECK(d["test_logits"]["compares_to_baseline"] == true);
  CHECK(d["test_logits"]["values"][0]["name"] == "ppl");
  CHECK(d["test_logits"]["values"][0]["criteria"][0]["key"] == "max_ppl_increase_pct");
  // test_logits's records carry their declared units.
  CHECK(doc["variants"][2]["metrics"]["test_logits"]["values"][1]["unit"] == "nats");
  CHECK(doc["variants"][0]["metrics"]["test_logits"]["values"][1]["value"] == 0.0);  // KL of the baseline with itself
}
