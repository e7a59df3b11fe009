// The static-cache generation loop (the CUDA path, static_generate.cpp) run on the CPU without
// graphs must give the dynamic-cache loop's tokens: the same prefill, and for each later token
// the same products with masked slots adding exact zeros. Token equality is the check (an
// argmax flip would need two logits within float32 rounding of each other).
#include "backend/fixture.hpp"
#include "hf_model.hpp"
#include "support/assets.hpp"

#include <qrun/quant/quant_linear.hpp>

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

qrun::hf::HfModel& hf(qrun::Model& m) { return dynamic_cast<qrun::hf::HfModel&>(m); }

std::vector<std::vector<std::int64_t>> two_prompts(qrun::Model& m) {
  return {m.tokenizer().encode("Once upon a time", true),
          m.tokenizer().encode("The little cat saw a big red ball and", true)};
}

std::vector<std::vector<std::int64_t>> tokens_of(const std::vector<qrun::Generation>& g) {
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& x : g) out.push_back(x.tokens);
  return out;
}

// The static loop (no graph) and the dynamic loop on two_prompts give the same tokens.
void check_static_equals_dynamic(qrun::Model& model, const qrun::GenerationConfig& cfg) {
  const auto prompts = two_prompts(model);
  auto dynamic = model.generate(prompts, cfg);
  auto fixed = hf(model).generate_static(prompts, cfg, /*allow_graph=*/false);
  REQUIRE(dynamic.ok());
  REQUIRE(fixed.ok());
  CHECK(tokens_of(*fixed) == tokens_of(*dynamic));
}

}  // namespace

TEST_CASE("static-cache greedy generation equals the dynamic cache on padded batches (stories260K)",
          "[backend][generate][static]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 40;  // more than two host checks (every 16 steps)
  check_static_equals_dynamic(*model, cfg);
}

TEST_CASE("static-cache greedy generation equals the dynamic cache with grouped KV heads and biases (tiny-qwen2)",
          "[backend][generate][static]") {
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 20;
  cfg.stop_token_ids = {0};  // random weights: keep going past eos-like ids where possible
  check_static_equals_dynamic(*model, cfg);
}

TEST_CASE("static-cache generation stops on a stop token found between host checks", "[backend][generate][static]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 60;
  cfg.stop_token_ids = {261};  // the 3rd golden token after BOS (see generation_test.cpp)
  auto out = hf(*model).generate_static({{1}}, cfg, false);
  REQUIRE(out.ok());
  CHECK(out->front().tokens == std::vector<std::int64_t>{403, 407, 261});
  CHECK(out->front().stopped_on_eos);
}

TEST_CASE("static-cache sampling equals dynamic-cache sampling for the same seed", "[backend][generate][static][sampling]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 25;
  cfg.do_sample = true;
  cfg.temperature = 0.8;
  cfg.top_p = 0.9;
  cfg.seed = 7;
  check_static_equals_dynamic(*model, cfg);
}

TEST_CASE("static-cache greedy generation with merged LLM.int8 q/k/v and gate/up equals the dynamic cache",
          "[backend][generate][static][quant]") {
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  for (const auto& name : model->linear_names()) {
    const auto& l = model->linear(name);
    auto q = qrun::quant::make_int8_linear(l.weight(at::kFloat), l.bias(), 6.0, at::kFloat, name);
    REQUIRE(q.ok());
    REQUIRE(model->set_linear(name, *q).ok());
  }
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 20;
  cfg.stop_token_ids = {0};
  // The merged int8 layer computes every output row from the same activation codes: same bits.
  check_static_equals_dynamic(*model, cfg);
}
