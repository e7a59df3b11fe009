// The hf backend against transformers' own outputs (shared/models/*/golden, computed on CPU in
// float32 with eager attention; see shared/models/README.md).
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

// 1e-4 abs: the float32 bound. We run the same float32 operations as transformers; the
// README's independent implementations agree with the golden to ~2e-6, so 1e-4 leaves room for
// another BLAS's summation order but not for a wrong formula (a RoPE or norm slip moves logits by
// 1e-2 or more).
constexpr double kFp32LogitTol = 1e-4;

struct TinyQwen2Run {
  at::Tensor ids;     // [256]
  at::Tensor logits;  // [256, vocab] float32
};

TinyQwen2Run run_tiny_qwen2() {
  const auto golden = asset("models/tiny-qwen2/golden/golden.safetensors");
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  TinyQwen2Run r;
  r.ids = golden_tensor(golden, "input_ids");
  r.logits = model->logits(r.ids.unsqueeze(0)).squeeze(0);
  return r;
}

}  // namespace

TEST_CASE("tiny-qwen2 float32 logits of the first 16 positions match transformers", "[backend][golden]") {
  const auto golden = asset("models/tiny-qwen2/golden/golden.safetensors");
  const auto run = run_tiny_qwen2();
  const at::Tensor expected = golden_tensor(golden, "logits_head");
  REQUIRE(run.logits.scalar_type() == at::kFloat);
  const double diff = (run.logits.slice(0, 0, 16) - expected).abs().max().item<double>();
  INFO("max |logit - golden| = " << diff);
  CHECK(diff <= kFp32LogitTol);
}

TEST_CASE("tiny-qwen2 logsumexp and next-token log-probs match transformers at all 256 positions",
          "[backend][golden]") {
  const auto golden = asset("models/tiny-qwen2/golden/golden.safetensors");
  const auto run = run_tiny_qwen2();
  // logsumexp over the vocabulary in float64 of the float32 logits (as the golden was made).
  const at::Tensor lse = at::logsumexp(run.logits.to(at::kDouble), -1);
  const double lse_diff = (lse - golden_tensor(golden, "logsumexp").to(at::kDouble)).abs().max().item<double>();
  const at::Tensor next = run.ids.slice(0, 1).unsqueeze(1);
  const at::Tensor logprob = run.logits.slice(0, 0, 255).to(at::kDouble).gather(1, next).squeeze(1) - lse.slice(0, 0, 255);
  const double lp_diff =
      (logprob - golden_tensor(golden, "next_token_logprob").to(at::kDouble)).abs().max().item<double>();
  INFO("max |logsumexp diff| = " << lse_diff << ", max |log-prob diff| = " << lp_diff);
  CHECK(lse_diff <= kFp32LogitTol);
  CHECK(lp_diff <= kFp32LogitTol);
}

TEST_CASE("tiny-qwen2 argmax matches transformers at every position", "[backend][golden]") {
  const auto golden = asset("models/tiny-qwen2/golden/golden.safetensors");
  const auto run = run_tiny_qwen2();
  const at::Tensor argmax = run.logits.argmax(-1);
  CHECK(argmax.equal(golden_tensor(golden, "argmax")));
}

TEST_CASE("tiny-qwen2 greedy generation reproduces transformers' generate()", "[backend][golden][generate]") {
  const auto g = read_json(asset("models/tiny-qwen2/golden/generate.json"));
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 12;
  auto out = model->generate({g["prompt_ids"].get<std::vector<std::int64_t>>()}, cfg);
  REQUIRE(out.ok());
  CHECK(out->front().tokens == g["greedy_ids"].get<std::vector<std::int64_t>>());
}

TEST_CASE("stories260K float32 logits match transformers", "[backend][golden]") {
  const auto golden = asset("models/stories260K/golden/golden.safetensors");
  auto model = load_model(asset("models/stories260K"), "float32");
  const at::Tensor ids = golden_tensor(golden, "input_ids");
  const at::Tensor logits = model->logits(ids.unsqueeze(0)).squeeze(0);
  const double diff = (logits - golden_tensor(golden, "logits")).abs().max().item<double>();
  INFO("max |logit - golden| = " << diff);
  CHECK(diff <= kFp32LogitTol);
}

TEST_CASE("stories260K greedy generation from BOS reproduces the 60 golden tokens and text",
          "[backend][golden][generate]") {
  const auto g = read_json(asset("models/stories260K/golden/generate.json"));
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 60;
  auto out = model->generate({g["prompt_ids"].get<std::vector<std::int64_t>>()}, cfg);
  REQUIRE(out.ok());
  const auto& tokens = out->front().tokens;
  CHECK(tokens == g["greedy_ids"].get<std::vector<std::int64_t>>());
  CHECK(model->tokenizer().decode(tokens, /*skip_special_tokens=*/true) == g["text"].get<std::string>());
}
