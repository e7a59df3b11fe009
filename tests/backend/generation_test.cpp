// Generation: KV cache, batching, stop tokens and sampling.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

std::vector<std::int64_t> prompt(qrun::Model& m, const std::string& text) {
  return m.tokenizer().encode(text, /*add_special_tokens=*/true);
}

}  // namespace

TEST_CASE("KV-cache greedy generation equals a cache-free argmax loop", "[backend][generate]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  std::vector<std::int64_t> ids = prompt(*model, "Once upon a time, a dog");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 20;
  auto cached = model->generate({ids}, cfg);
  REQUIRE(cached.ok());
  const auto steps = cached->front().tokens.size();  // 20, or fewer when it stopped on eos
  REQUIRE(steps >= 1);
  std::vector<std::int64_t> loop;
  for (std::size_t step = 0; step < steps; ++step) {
    const at::Tensor logits = model->logits(row(ids)).squeeze(0);
    const std::int64_t next = logits[-1].argmax().item<std::int64_t>();
    loop.push_back(next);
    ids.push_back(next);
  }
  CHECK(cached->front().tokens == loop);
}

TEST_CASE("batched generation of prompts of different lengths equals generating each alone", "[backend][generate]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  const auto p1 = prompt(*model, "Once upon a time"), p2 = prompt(*model, "The little cat saw a big red ball and");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 15;
  auto batch = model->generate({p1, p2}, cfg);
  auto alone1 = model->generate({p1}, cfg);
  auto alone2 = model->generate({p2}, cfg);
  REQUIRE(batch.ok());
  REQUIRE(alone1.ok());
  REQUIRE(alone2.ok());
  CHECK((*batch)[0].tokens == alone1->front().tokens);
  CHECK((*batch)[1].tokens == alone2->front().tokens);
}

TEST_CASE("generation stops on a stop token and includes it", "[backend][generate]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  const std::vector<std::int64_t> bos = {1};
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 60;
  cfg.stop_token_ids = {261};  // the 3rd golden token (" a" in "Once upon a time")
  auto out = model->generate({bos}, cfg);
  REQUIRE(out.ok());
  CHECK(out->front().tokens == std::vector<std::int64_t>{403, 407, 261});
  CHECK(out->front().stopped_on_eos);
}

TEST_CASE("sampling with top_k 1 equals greedy decoding", "[backend][generate][sampling]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig greedy;
  greedy.max_new_tokens = 12;
  qrun::GenerationConfig sample = greedy;
  sample.do_sample = true;
  sample.top_k = 1;
  sample.temperature = 0.7;
  sample.seed = 123;
  auto a = model->generate({{1}}, greedy);
  auto b = model->generate({{1}}, sample);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->front().tokens == b->front().tokens);
}

TEST_CASE("sampling is reproducible for a seed and varies across seeds", "[backend][generate][sampling]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 30;
  cfg.do_sample = true;
  cfg.temperature = 1.5;
  cfg.top_p = 0.95;
  cfg.seed = 7;
  auto a = model->generate({{1}}, cfg);
  auto b = model->generate({{1}}, cfg);
  std::vector<std::vector<std::int64_t>> others;
  for (std::uint64_t seed : {8, 9, 10}) {
    cfg.seed = seed;
    auto c = model->generate({{1}}, cfg);
    REQUIRE(c.ok());
    others.push_back(c->front().tokens);
  }
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->front().tokens == b->front().tokens);
  const bool all_same = std::all_of(others.begin(), others.end(), [&](const auto& t) { return t == a->front().tokens; });
  CHECK_FALSE(all_same);
}

TEST_CASE("a sampling temperature of zero is refused naming the parameter", "[backend][generate][errors]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  qrun::GenerationConfig cfg;
  cfg.do_sample = true;
  cfg.temperature = 0;
  auto out = model->generate({{1}}, cfg);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().thing == "generation.temperature");
  CHECK_FALSE(out.error().fix.empty());
}
