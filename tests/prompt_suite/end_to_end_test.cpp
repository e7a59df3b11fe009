// The prompt_suite metric end to end through the registry: hf backend (stories260K, tiny-qwen2),
// a few prompts, small max_new_tokens. An identical clone must show KL exactly 0 and 100 %
// agreement; a perturbed clone must not.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/metric.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <optional>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::string& asset_folder) {
  auto backend = registry().make_backend("hf", {{"path", test::asset(asset_folder).string()}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

// Three prompts (one of each category below), 8 new tokens, batches of 2.
ParamMap small_run() {
  return {{"categories", std::vector<std::string>{"mathematical_reasoning", "sentiment_analysis", "dialogue"}},
          {"limit_per_category", std::int64_t{1}},
          {"max_new_tokens", std::int64_t{8}},
          {"batch_size", std::int64_t{2}}};
}

std::vector<MetricResult> run_suite(Model& baseline, Model& variant, const ParamMap& params) {
  auto metric = registry().make_metric("prompt_suite", params);
  if (!metric) FAIL(metric.error().message());
  Dataset dataset{"prompt_suite_96", test::source_dir() / "datasets/prompt_suite_96.json", ""};
  MetricInputs in;
  in.baseline = &baseline;
  in.variants = {{"baseline", &baseline, true}, {"variant", &variant, false}};
  in.dataset = &dataset;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto results = (*metric)->evaluate(in, *ctx);
  if (!results) FAIL(results.error().message());
  REQUIRE(results->size() == 2);
  return std::move(*results);
}

std::optional<MetricValue> find(const MetricResult& r, const std::string& name, const std::string& group = "") {
  for (const auto& v : r.values)
    if (v.name == name && v.group == group) return v;
  return std::nullopt;
}

double value_of(const MetricResult& r, const std::string& name, const std::string& group = "") {
  auto v = find(r, name, group);
  if (!v) FAIL("no value " + name + " in group \"" + group + "\"");
  return v->value;
}

void check_identical(const MetricResult& r) {
  for (const std::string group : {"", "mathematical_reasoning", "sentiment_analysis", "dialogue"}) {
    INFO("group \"" << group << "\"");
    CHECK(value_of(r, "kl_mean", group) == 0.0);  // exact: the same float32 rows on both sides
    CHECK(value_of(r, "same_top_p", group) == 100.0);
    CHECK(value_of(r, "agreement", group) == 100.0);
    CHECK(value_of(r, "prefix_agreement", group) == 100.0);
    CHECK(find(r, "success_rate", group).has_value());
    CHECK(find(r, "tokens_per_s", group).has_value());
  }
  CHECK(find(r, "accuracy", "mathematical_reasoning").has_value());
  CHECK_FALSE(find(r, "accuracy", "dialogue").has_value());  // no references there
}

}  // namespace

TEST_CASE("an identical clone of stories260K has KL exactly 0 and full agreement", "[prompt_suite][e2e]") {
  auto base = load_model("models/stories260K");
  auto clone = base->clone();
  REQUIRE(clone.ok());
  auto results = run_suite(*base, **clone, small_run());
  check_identical(results[0]);
  check_identical(results[1]);
  CHECK(results[1].details["suite"]["chat"] == false);  // no chat template in stories260K
  CHECK(results[1].method.find("reduced run") != std::string::npos);  // categories and limit_per_category
  CHECK(results[1].method.find("limit_per_category") != std::string::npos);
}

TEST_CASE("an identical clone of tiny-qwen2 with its chat template has KL exactly 0", "[prompt_suite][e2e]") {
  auto base = load_model("models/tiny-qwen2");
  REQUIRE(base->tokenizer().has_chat_template());
  auto clone = base->clone();
  REQUIRE(clone.ok());
  auto results = run_suite(*base, **clone, small_run());
  check_identical(results[1]);
  CHECK(results[1].details["suite"]["chat"] == true);
}

TEST_CASE("the details list every prompt's decoded output, tokens and judgement", "[prompt_suite][e2e]") {
  auto base = load_model("models/stories260K");
  auto clone = base->clone();
  REQUIRE(clone.ok());
  auto results = run_suite(*base, **clone, small_run());
  const auto& prompts = results[1].details["prompts"];
  REQUIRE(prompts.size() == 3);
  std::int64_t successes = 0;
  for (const auto& p : prompts) {
    INFO(p.dump());
    CHECK(p["ok"] == true);
    CHECK(p["n_tokens"].get<std::int64_t>() >= 1);
    CHECK(p["n_tokens"].get<std::int64_t>() <= 8);
    CHECK(p["tokens"].size() == p["n_tokens"].get<std::size_t>());
    CHECK(p["agrees_with_baseline"] == true);
    CHECK(p["kl_tokens"] == p["n_tokens"]);  // every continuation position is scored
    successes += p["success"].get<bool>() ? 1 : 0;
  }
  CHECK(prompts[0]["id"] == "math-01");
  CHECK(prompts[0]["correct"].is_boolean());
  CHECK(prompts[2]["correct"].is_null());  // dialog-01 has no reference
  CHECK(value_of(results[1], "success_rate") == Approx(100.0 * static_cast<double>(successes) / 3.0));
  CHECK(find(results[1], "success_rate")->n == 3);
}

TEST_CASE("a perturbed variant of tiny-qwen2 has positive KL on the baseline's continuation", "[prompt_suite][e2e]") {
  auto base = load_model("models/tiny-qwen2");
  auto perturbed = base->clone();
  REQUIRE(perturbed.ok());
  {
    c10::InferenceMode guard;
    bool scaled = false;
    for (auto& [name, tensor] : (*perturbed)->other_tensors()) {
      if (name == "model.norm.weight") {
        tensor.mul_(1.5);  // sharper final distributions: a different model, same tokenizer
        scaled = true;
      }
    }
    REQUIRE(scaled);
  }
  auto results = run_suite(*base, **perturbed, small_run());
  CHECK(value_of(results[0], "kl_mean") == 0.0);  // the baseline against itself
  CHECK(value_of(results[1], "kl_mean") > 0.0);
  CHECK(find(results[1], "kl_mean")->unit == "nats");
}

TEST_CASE("chat = on is refused for a tokenizer without a chat template", "[prompt_suite][e2e][errors]") {
  auto base = load_model("models/stories260K");
  auto params = small_run();
  params["chat"] = std::string("on");
  auto metric = registry().make_metric("prompt_suite", params);
  REQUIRE(metric.ok());
  Dataset dataset{"prompt_suite_96", test::source_dir() / "datasets/prompt_suite_96.json", ""};
  MetricInputs in;
  in.baseline = base.get();
  in.variants = {{"baseline", base.get(), true}};
  in.dataset = &dataset;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto results = (*metric)->evaluate(in, *ctx);
  REQUIRE_FALSE(results.ok());
  CHECK(results.error().thing == "prompt_suite.chat");
  CHECK_FALSE(results.error().fix.empty());
}
