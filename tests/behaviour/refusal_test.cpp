// The refusal metric on stub models whose answers are known (always refuses, never refuses), on a
// judge model loaded through a test backend plugin, and on stories260K / tiny-qwen2.
#include "metric_support.hpp"
#include "stub_model.hpp"

#include <qrun/binomial.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>

using namespace qrun;
using namespace qrun::test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

const double kZ2 = 1.959963984540054 * 1.959963984540054;
std::filesystem::path examples() { return source_dir() / "datasets/refusal_examples_qrun.jsonl"; }
ParamMap prefix_params() { return {{"prefixes_file", (source_dir() / "datasets/refusal_prefixes_gcg.json").string()}}; }

ParamMap judge_params(const std::string& judge_model, const std::vector<std::string>& extra = {}) {
  return {{"judge", std::string("model")},
          {"judge_file", (source_dir() / "datasets/refusal_judge_qrun.json").string()},
          {"judge_model", judge_model},
          {"judge_backend", std::string("behaviour_stub")},
          {"judge_backend_params", extra}};
}

// The test backend plugin's folder joins the plugin path the judge loader searches.
void add_test_plugin_path() {
  const char* old = std::getenv("QRUN_PLUGIN_PATH");
  std::string path = std::string(QRUN_BEHAVIOUR_TEST_PLUGIN_DIR) + (old && *old ? std::string(":") + old : "");
  ::setenv("QRUN_PLUGIN_PATH", path.c_str(), 1);
}

}  // namespace

TEST_CASE("a model that always refuses against one that never does: every rate, interval and flip by hand",
          "[behaviour][refusal]") {
  auto refuser = make_stub_model("refuse");
  auto complier = make_stub_model("comply");
  auto r = run_metric("refusal", prefix_params(), examples(), *refuser, *complier);
  const MetricResult& base = r[0];
  const MetricResult& var = r[1];
  // 12 harmful and 12 benign requests.
  CHECK(value_of(base, "refusal_rate") == 100.0);
  CHECK(value_of(base, "over_refusal_rate") == 100.0);
  CHECK(find_value(base, "refusal_rate")->n == 12);
  CHECK_THAT(value_of(base, "refusal_rate_ci_low"), WithinRel(100.0 * 12.0 / (12.0 + kZ2), 1e-12));
  CHECK(value_of(base, "refusal_rate_ci_high") == 100.0);
  CHECK(value_of(base, "refusals_lost") == 0.0);
  CHECK(value_of(base, "refusal_flip_p") == 1.0);
  CHECK(value_of(base, "over_refusal_change") == 0.0);

  CHECK(value_of(var, "refusal_rate") == 0.0);
  CHECK(value_of(var, "refusal_rate_ci_low") == 0.0);
  CHECK_THAT(value_of(var, "refusal_rate_ci_high"), WithinRel(100.0 * kZ2 / (12.0 + kZ2), 1e-12));
  CHECK(value_of(var, "over_refusal_rate") == 0.0);
  CHECK(value_of(var, "over_refusal_change") == -100.0);
  CHECK(value_of(var, "refusals_lost") == 12.0);
  CHECK(value_of(var, "refusals_gained") == 0.0);
  CHECK_THAT(value_of(var, "refusal_flip_p"), WithinRel(2.0 / 4096.0, 1e-12));  // 2·(1/2)^12
  CHECK(value_of(var, "over_refusals_removed") == 12.0);
  CHECK(value_of(var, "over_refusals_added") == 0.0);
  CHECK(value_of(var, "judge_unparsed") == 0.0);
  // Per category: the refusal examples have 2 harmful requests in each of 6 categories.
  CHECK(value_of(base, "refusal_rate", "violence") == 100.0);
  CHECK(find_value(base, "refusal_rate", "violence")->n == 2);
  CHECK_THAT(value_of(base, "refusal_rate_ci_low", "violence"), WithinRel(100.0 * 2.0 / (2.0 + kZ2), 1e-12));
  CHECK(value_of(var, "over_refusal_rate", "homonyms") == 0.0);
  // Examples: harmful refusals lost first, each with the baseline's output beside the variant's.
  const auto& ex = var.details["changed_examples"];
  REQUIRE(ex.size() == 8);  // `examples` default
  CHECK(ex[0]["harmful"] == true);
  CHECK(ex[0]["baseline"]["outcome"] == "refusal");
  CHECK(ex[0]["variant"]["outcome"] == "compliance");
  CHECK(ex[0]["change"] == "refusal lost");
  REQUIRE(changed_example_from_json(ex[0]).has_value());
  CHECK(ex[0]["baseline"]["model_output"] == stub_reply("refuse"));
  CHECK(ex[0]["variant"]["model_output"] == stub_reply("comply"));
  CHECK(var.details["judge"]["judge"] == "prefix");
  CHECK(var.details["chat"] == true);
}

TEST_CASE("over-refusal increase is the variant's rate minus the baseline's in points", "[behaviour][refusal]") {
  auto complier = make_stub_model("comply");
  auto refuser = make_stub_model("refuse", 'B', /*chat=*/true);
  auto r = run_metric("refusal", prefix_params(), examples(), *complier, *refuser);
  CHECK(value_of(r[1], "over_refusal_change") == 100.0);
  CHECK(value_of(r[1], "over_refusals_added") == 12.0);
  CHECK(value_of(r[1], "refusals_gained") == 12.0);
  CHECK_THAT(value_of(r[1], "over_refusal_flip_p"), WithinRel(2.0 / 4096.0, 1e-12));
}

TEST_CASE("the prefix judge reads only the first match_tokens tokens", "[behaviour][refusal]") {
  // The refusal reply's first 3 bytes "I'm" hold no phrase; "I'm sorry" needs 9.
  auto refuser = make_stub_model("refuse");
  ParamMap p = prefix_params();
  p["match_tokens"] = std::int64_t{3};
  auto r = run_metric("refusal", p, examples(), *refuser, *refuser);
  CHECK(value_of(r[0], "refusal_rate") == 0.0);
  p["match_tokens"] = std::int64_t{9};
  auto r9 = run_metric("refusal", p, examples(), *refuser, *refuser);
  CHECK(value_of(r9[0], "refusal_rate") == 100.0);
}

TEST_CASE("a judge model loaded through a backend plugin decides, and unparsed answers leave the rates",
          "[behaviour][refusal][judge]") {
  add_test_plugin_path();
  auto complier = make_stub_model("comply");
  auto also = make_stub_model("comply");
  // The judge always answers REFUSED: both models are judged to refuse everything.
  auto r = run_metric("refusal", judge_params("stub", {"mode=judge_refused"}), examples(), *complier, *also);
  CHECK(value_of(r[1], "refusal_rate") == 100.0);
  CHECK(value_of(r[1], "over_refusal_rate") == 100.0);
  CHECK(r[1].details["generations"][0]["judge_output"] == "REFUSED");
  CHECK(r[1].details["judge"]["judge"] == "model");
  // COMPLIED: no refusals.
  auto c = run_metric("refusal", judge_params("stub", {"mode=judge_complied"}), examples(), *complier, *also);
  CHECK(value_of(c[1], "refusal_rate") == 0.0);
  // An answer with no label: every generation unparsed, no rate at all.
  auto u = run_metric("refusal", judge_params("stub", {"mode=judge_unsure"}), examples(), *complier, *also);
  CHECK(value_of(u[1], "judge_unparsed") == 24.0);
  CHECK_FALSE(find_value(u[1], "refusal_rate").has_value());
  CHECK_FALSE(find_value(u[1], "over_refusal_rate").has_value());
  // An unknown backend is an error naming judge_backend.
  ParamMap bad = judge_params("stub");
  bad["judge_backend"] = std::string("no_such_backend");
  auto e = try_metric("refusal", bad, examples(), *complier, *also);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "refusal.judge_backend");
}

TEST_CASE("the baseline can be its own judge", "[behaviour][refusal][judge]") {
  auto judge_like = make_stub_model("judge_refused");
  auto complier = make_stub_model("comply");
  ParamMap p = judge_params("baseline");
  auto r = run_metric("refusal", p, examples(), *judge_like, *complier);
  CHECK(value_of(r[1], "refusal_rate") == 100.0);
  CHECK(r[1].details["judge"]["judge_model"].get<std::string>().rfind("baseline", 0) == 0);
}

TEST_CASE("a real checkpoint judges through the hf backend: every generation gets a verdict", "[behaviour][refusal][judge][e2e]") {
  auto refuser = make_stub_model("refuse", 'B', /*chat=*/true);
  auto complier = make_stub_model("comply", 'B', /*chat=*/true);
  ParamMap p = judge_params(asset("models/tiny-qwen2").string());
  p["judge_backend"] = std::string("hf");
  p["limit_per_category"] = std::int64_t{1};
  auto r = run_metric("refusal", p, examples(), *refuser, *complier);
  // tiny-qwen2 has random weights: its verdicts are arbitrary, but each is a label or unparsed.
  std::int64_t judged = 0, unparsed = 0;
  for (const auto& g : r[1].details["generations"]) {
    ++judged;
    unparsed += g["verdict"] == "unparsed";
    CHECK(g.contains("judge_output"));
  }
  CHECK(judged == 14);  // one request of each of 6 harmful and 8 benign categories
  CHECK(value_of(r[1], "judge_unparsed") == static_cast<double>(unparsed));
  const auto rate = find_value(r[1], "refusal_rate");
  const auto over = find_value(r[1], "over_refusal_rate");
  CHECK((rate ? rate->n : 0) + (over ? over->n : 0) + unparsed == judged);
  CHECK(r[1].details["judge"]["judge_backend"] == "hf");
}

TEST_CASE("refusal on stories260K and tiny-qwen2: rates recomputed from the recorded outputs", "[behaviour][refusal][e2e]") {
  for (const std::string folder : {"models/stories260K", "models/tiny-qwen2"}) {
    INFO(folder);
    auto base = load_hf(folder);
    auto clone = base->clone();
    REQUIRE(clone.ok());
    ParamMap p = prefix_params();
    p["limit_per_category"] = std::int64_t{1};
    p["max_new_tokens"] = std::int64_t{8};
    p["match_tokens"] = std::int64_t{0};  // every token: the recorded output is what was judged
    auto r = run_metric("refusal", p, examples(), *base, **clone);
    // Independent recomputation: lower-cased phrases in the lower-cased outputs.
    std::ifstream phrase_file(source_dir() / "datasets/refusal_prefixes_gcg.json");
    const nlohmann::json phrases = nlohmann::json::parse(phrase_file)["prefixes"];
    std::int64_t harmful = 0, refused = 0;
    for (const auto& g : r[1].details["generations"]) {
      if (!g["harmful"].get<bool>()) continue;
      std::string out = g["model_output"];
      std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
      bool hit = false;
      for (const auto& ph : phrases) {
        std::string s = ph;
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        hit |= out.find(s) != std::string::npos;
      }
      ++harmful;
      refused += hit;
    }
    CHECK(harmful == 6);  // one request of each harmful category
    CHECK_THAT(value_of(r[1], "refusal_rate"), WithinAbs(100.0 * refused / harmful, 1e-12));
    // An identical clone: the very same outputs, no flips.
    CHECK(value_of(r[1], "refusals_lost") == 0.0);
    CHECK(value_of(r[1], "refusals_gained") == 0.0);
    CHECK(value_of(r[1], "refusal_flip_p") == 1.0);
    CHECK(value_of(r[1], "over_refusal_change") == 0.0);
    CHECK(r[1].details["generations"] == r[0].details["generations"]);
    CHECK_FALSE(r[1].reductions.empty());  // limit_per_category
  }
}
