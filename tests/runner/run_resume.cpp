// The runner in process, on the TEST-ONLY plugins: cells, persistence, resume, determinism and
// how plugin failures come back.
#include "../experiment/test_registry.hpp"
#include "plan/plan.hpp"
#include "run_fixture.hpp"
#include "runner/runner.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

qrun::Experiment load(const RunFolder& f, const std::vector<std::string>& extra = {}) {
  qrun::LoadOptions options;
  options.overrides = f.overrides(extra);
  auto e = qrun::load_experiment(f.toml, test_registry(), options);
  if (!e) FAIL(e.error().message());
  return std::move(e).value();
}

qrun::Result<qrun::RunSummary> run(const qrun::Experiment& e, bool fresh = false) {
  qrun::RunOptions options;
  options.fresh = fresh;
  options.write_report = false;  // the report has its own tests; these check results.json
  const qrun::Plan plan = qrun::make_plan(e);
  return qrun::run_experiment(plan, test_registry(), options);
}

// The numbers of a results document, without provenance (times, hosts).
nlohmann::json numbers(const nlohmann::json& doc) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& v : doc["variants"]) out[v["name"].get<std::string>()] = v["metrics"];
  return out;
}

}  // namespace

TEST_CASE("a run fills every (variant, metric) cell and marks results complete", "[runner]") {
  RunFolder f("runner_complete");
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f));
  REQUIRE(s.ok());
  CHECK(s->cells_total == 9);
  CHECK(s->cells_computed == 9);
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["complete"] == true);
  CHECK(doc["schema_version"] == 1);
  REQUIRE(doc["variants"].size() == 3);
  for (const auto& v : doc["variants"]) {
    INFO(v["name"]);
    CHECK(v["complete"] == true);
    CHECK(v["metrics"].size() == 3);
    CHECK(v["storage"]["linear_bytes"].get<std::int64_t>() > 0);
    CHECK(v["compute_dtype"] == "float32");
  }
  CHECK(doc["variants"][1]["transforms"][0]["summary"] == "noised 2 layers");
  CHECK(doc["provenance"]["finished"].is_string());
  CHECK(doc["provenance"]["datasets"][0]["sha256"].get<std::string>().size() == 64);
  CHECK(doc["provenance"]["plugins"][0]["id"] == "test_plugins");
}

TEST_CASE("a comparison metric gets the baseline beside each variant, one call per cell", "[runner]") {
  RunFolder f("runner_lockstep");
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  REQUIRE(run(load(f)).ok());
  std::vector<std::string> diff_calls;
  for (const auto& c : f.calls()) {
    if (c.rfind("test_diff ", 0) == 0) diff_calls.push_back(c);
  }
  CHECK(diff_calls == std::vector<std::string>{"test_diff base", "test_diff noisy", "test_diff quant"});
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["variants"][0]["metrics"]["test_diff"]["values"][0]["value"] == 0.0);
  CHECK(doc["variants"][2]["metrics"]["test_diff"]["values"][0]["value"].get<double>() > 0.0);
}

TEST_CASE("a run failing on one variant keeps the finished cells and says complete false", "[runner][resume]") {
  RunFolder f("runner_fail");
  ScopedEnv fail("QRUN_TEST_FAIL_ON", "quant");
  auto s = run(load(f));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().thing.rfind("test_weight_sum (metric test_weight_sum on quant) variant quant", 0) == 0);
  CHECK(s.error().reason == "failing on request (QRUN_TEST_FAIL_ON)");
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["complete"] == false);
  CHECK(doc["provenance"]["finished"].is_null());
  CHECK(doc["variants"][0]["metrics"].size() == 3);  // every cell of base
  CHECK(doc["variants"][1]["metrics"].size() == 3);  // and of noisy
  CHECK(doc["variants"][2]["metrics"].empty());
  CHECK(doc["variants"][0]["complete"] == true);
  CHECK(doc["variants"][2]["complete"] == false);
}

TEST_CASE("a resumed run reuses finished cells and computes only the missing ones", "[runner][resume]") {
  RunFolder f("runner_resume");
  {
    ScopedEnv fail("QRUN_TEST_FAIL_ON", "quant");
    REQUIRE_FALSE(run(load(f)).ok());
  }
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f));
  REQUIRE(s.ok());
  CHECK(s->cells_reused == 6);
  CHECK(s->cells_computed == 3);
  CHECK(f.calls() == std::vector<std::string>{"test_weight_sum quant", "test_data quant", "test_diff quant"});
  CHECK(read_json(f.out / "results.json")["complete"] == true);
}

TEST_CASE("a resumed run gives the same numbers as an uninterrupted one", "[runner][resume][determinism]") {
  RunFolder interrupted("runner_resume_same_a");
  {
    ScopedEnv fail("QRUN_TEST_FAIL_ON", "noisy");
    REQUIRE_FALSE(run(load(interrupted)).ok());
  }
  REQUIRE(run(load(interrupted)).ok());
  RunFolder straight("runner_resume_same_b");
  REQUIRE(run(load(straight)).ok());
  CHECK(numbers(read_json(interrupted.out / "results.json")) == numbers(read_json(straight.out / "results.json")));
}

TEST_CASE("a finished run started again computes nothing", "[runner][resume]") {
  RunFolder f("runner_rerun");
  REQUIRE(run(load(f)).ok());
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f));
  REQUIRE(s.ok());
  CHECK(s->cells_computed == 0);
  CHECK(s->cells_reused == 9);
  CHECK(f.calls().empty());
}

TEST_CASE("option --fresh recomputes every cell despite an existing results.json", "[runner][resume]") {
  RunFolder f("runner_fresh");
  REQUIRE(run(load(f)).ok());
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f), /*fresh=*/true);
  REQUIRE(s.ok());
  CHECK(s->cells_computed == 9);
  CHECK(f.calls().size() == 9);
}

TEST_CASE("a changed experiment reuses the cells the change does not affect", "[runner][resume]") {
  RunFolder f("runner_changed");
  REQUIRE(run(load(f)).ok());
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f, {"variants[1].transforms[0].std=0.2"}));
  REQUIRE(s.ok());
  CHECK(s->cells_reused == 6);
  CHECK(f.calls() == std::vector<std::string>{"test_weight_sum noisy", "test_data noisy", "test_diff noisy"});
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["complete"] == true);
  CHECK(doc["experiment"]["variants"][1]["transforms"][0]["params"]["std"] == 0.2);
}

TEST_CASE("changing only the report table still resumes", "[runner][resume]") {
  RunFolder f("runner_report_change");
  REQUIRE(run(load(f)).ok());
  auto s = run(load(f, {"report.max_ppl_increase_pct=2"}));
  REQUIRE(s.ok());
  CHECK(s->cells_computed == 0);
  CHECK(read_json(f.out / "results.json")["experiment"]["report"]["max_ppl_increase_pct"] == 2.0);
}

TEST_CASE("a changed dataset recomputes the cells that read it", "[runner][resume]") {
  RunFolder f("runner_data_change");
  REQUIRE(run(load(f)).ok());
  std::ofstream(f.dir / "data.txt") << "different text\n";
  ScopedEnv counter("QRUN_TEST_COUNTER", f.counter.string());
  auto s = run(load(f));
  REQUIRE(s.ok());
  CHECK(f.calls() == std::vector<std::string>{"test_data base", "test_data noisy", "test_data quant"});
  const auto doc = read_json(f.out / "results.json");
  CHECK(doc["variants"][0]["metrics"]["test_data"]["values"][0]["value"] == 15.0);  // "different text\n"
}

TEST_CASE("the same seed gives the same results", "[runner][determinism]") {
  RunFolder a("runner_seed_a"), b("runner_seed_b");
  REQUIRE(run(load(a)).ok());
  REQUIRE(run(load(b)).ok());
  CHECK(numbers(read_json(a.out / "results.json")) == numbers(read_json(b.out / "results.json")));
}

TEST_CASE("another seed changes a seeded transform's result", "[runner][determinism]") {
  RunFolder a("runner_seed_c"), b("runner_seed_d");
  REQUIRE(run(load(a)).ok());
  REQUIRE(run(load(b, {"experiment.seed=12"})).ok());
  const auto na = numbers(read_json(a.out / "results.json")), nb = numbers(read_json(b.out / "results.json"));
  CHECK(na["base"] == nb["base"]);
  CHECK(na["noisy"] != nb["noisy"]);
}

TEST_CASE("a metric returning NaN fails naming the metric, variant and value", "[runner][errors]") {
  RunFolder f("runner_nan");
  auto s = run(load(f, {"metrics[0].use=test_nan"}));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().thing == "test_nan (metric 'test_nan' on variant 'base') value broken");
  CHECK(s.error().reason == "is nan");
}

TEST_CASE("an exception thrown by a plugin becomes one error naming the plugin and stage", "[runner][errors]") {
  RunFolder f("runner_throw");
  auto s = run(load(f, {"metrics[0].use=test_throw"}));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().thing == "test_throw (metric test_throw on base)");
  CHECK(s.error().reason == "exception: boom");
  CHECK(read_json(f.out / "results.json")["complete"] == false);
}

TEST_CASE("a missing dataset file stops the run before any model is loaded", "[runner][errors]") {
  RunFolder f("runner_no_data");
  auto s = run(load(f, {"datasets[0].path=" + (f.dir / "absent.txt").string()}));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().thing == "--set datasets[0].path");
  CHECK(s.error().fix.find("--set datasets[0].path=") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(f.out / "results.json"));
}
