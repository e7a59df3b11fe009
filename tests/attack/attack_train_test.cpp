// The attack's building blocks on real models (hf backend, float32, CPU): the trainer's own
// differentiable decoder equals the backend's logits (stories260K = Llama, tiny-qwen2 = Qwen2 with
// q/k/v biases); the learning-rate schedule is transformers' warmup + cosine; the first AdamW step
// moves every weight with a gradient by lr (Adam's bias-corrected first step is lr * g / |g|);
// PGD keeps every weight in its box, so the NF4 codes do not change; boxes of several targets
// are their intersection; and the malicious data contains the phrase / the refusal.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/attack/attack_data.hpp>
#include <qrun/attack/pgd_box.hpp>
#include <qrun/attack/train.hpp>
#include <qrun/context.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<RunContext> context() { return make_default_context(0, c10::Device(c10::kCPU)); }

std::unique_ptr<Model> load(const std::string& name) {
  auto backend = registry().make_backend(
      "hf", {{"path", test::asset("models/" + name).string()}, {"dtype", std::string("float32")}, {"device", std::string("cpu")}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = context();
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

std::unique_ptr<Model> quantized(Model& base, const std::string& use) {
  auto clone = base.clone();
  if (!clone) FAIL(clone.error().message());
  auto t = registry().make_transform(use, {});
  if (!t) FAIL(t.error().message());
  auto ctx = context();
  auto r = (*t)->apply(**clone, *ctx);
  if (!r) FAIL(r.error().message());
  return std::move(*clone);
}

// A few prompts of the model's own greedy answers.
std::vector<attack::Example> own_answers(Model& m, std::int64_t tokens) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily went to the park", "Tom had a red ball"};
  auto ids = attack::render_prompts(m, prompts, false);
  if (!ids) FAIL(ids.error().message());
  auto answers = attack::greedy_answers(m, *ids, tokens, 4);
  if (!answers) FAIL(answers.error().message());
  return attack::make_examples(*ids, *answers);
}

at::Tensor weight(const Model& m, const std::string& name) {
  c10::InferenceMode guard;
  return m.linear(name).weight(at::kFloat).clone();
}

}  // namespace

TEST_CASE("the trainer's forward equals the backend's logits on Llama and Qwen2", "[attack][forward]") {
  for (const std::string name : {"stories260K", "tiny-qwen2"}) {
    INFO(name);
    auto m = load(name);
    attack::TrainConfig c;
    c.steps = 1;
    c.lr = 1e-12;
    auto ctx = context();
    auto log = attack::train(*m, own_answers(*m, 8), c, nullptr, *ctx, "test");
    REQUIRE(log);
    CHECK(log->parity_max_abs_diff <= 1e-4);
    CHECK(log->trained_parameters > 0);
  }
}

TEST_CASE("the learning rate follows transformers' warmup + cosine schedule", "[attack][schedule]") {
  attack::TrainConfig c;
  c.lr = 1.0;
  c.warmup_ratio = 0.03;  // ceil(0.03 * 100) = 3 warmup steps
  CHECK(attack::scheduled_lr(c, 0, 100) == 0.0);
  CHECK(attack::scheduled_lr(c, 1, 100) == Approx(1.0 / 3.0));
  CHECK(attack::scheduled_lr(c, 3, 100) == Approx(1.0));
  // progress (t - 3) / 97: halfway at t = 51.5 -> lr 0.5; t = 100 -> 0
  CHECK(attack::scheduled_lr(c, 100, 100) == Approx(0.0).margin(1e-12));
  CHECK(attack::scheduled_lr(c, 52, 100) == Approx(0.5 * (1.0 + std::cos(M_PI * 49.0 / 97.0))));
  c.warmup_ratio = 0;
  CHECK(attack::scheduled_lr(c, 0, 10) == Approx(1.0));
}

TEST_CASE("the first AdamW step moves each weight with a gradient by lr", "[attack][adamw]") {
  auto m = load("stories260K");
  const std::string layer = "model.layers.0.mlp.down_proj";
  const at::Tensor before = weight(*m, layer);
  attack::TrainConfig c;
  c.steps = 1;
  c.lr = 1e-3;
  c.warmup_ratio = 0;
  c.eps = 1e-12;  // so lr * g / (|g| + eps) = lr for every gradient well above 1e-12
  auto ctx = context();
  auto log = attack::train(*m, own_answers(*m, 16), c, nullptr, *ctx, "test");
  REQUIRE(log);
  const at::Tensor step = (weight(*m, layer) - before).abs();
  // Adam's first step: m_hat = g, v_hat = g^2, update = lr * g / (|g| + eps).
  CHECK(step.max().item<double>() <= 1e-3 * (1 + 1e-4));
  CHECK(at::gt(step, 0.99e-3).to(at::kDouble).mean().item<double>() > 0.9);
}

TEST_CASE("PGD repair keeps every weight in its NF4 box, so the NF4 codes do not change", "[attack][pgd]") {
  auto m = load("stories260K");
  auto ctx = context();
  auto q0 = quantized(*m, "nf4");
  auto codes0 = attack::model_codes(*q0);
  REQUIRE(codes0);
  REQUIRE(!codes0->empty());
  attack::BoxSummary s;
  auto boxes = attack::target_boxes(*m, {*codes0}, &s);
  REQUIRE(boxes);
  CHECK(s.frozen > 0);  // at least the absmax of every block
  CHECK(s.frozen < s.weights / 4);
  // Train on answers with a phrase: a strong push out of the boxes.
  auto data = own_answers(*m, 16);
  attack::ObjectiveSpec spec;
  for (auto& e : data) e.response = attack::malicious_response(*m, e.response, spec);
  attack::TrainConfig c;
  c.steps = 20;
  c.lr = 1e-2;
  auto log = attack::train(*m, data, c, &*boxes, *ctx, "test");
  REQUIRE(log);
  CHECK(log->box_violations == 0);
  CHECK(log->moved > log->boxed / 2);
  CHECK(log->trained_parameters == s.weights);
  auto q1 = quantized(*m, "nf4");
  auto codes1 = attack::model_codes(*q1);
  REQUIRE(codes1);
  auto cmp = attack::compare_codes(*codes0, *codes1);
  REQUIRE(cmp);
  CHECK(cmp->flips.n == s.weights);
  CHECK(cmp->flips.flipped == 0);
  // Without the boxes the same training changes codes.
  auto free_model = load("stories260K");
  auto free_log = attack::train(*free_model, data, c, nullptr, *ctx, "test");
  REQUIRE(free_log);
  auto q2 = quantized(*free_model, "nf4");
  auto codes2 = attack::model_codes(*q2);
  REQUIRE(codes2);
  auto cmp2 = attack::compare_codes(*codes0, *codes2);
  REQUIRE(cmp2);
  CHECK(cmp2->flips.flipped > 0);
}

TEST_CASE("boxes of several targets are the intersection of each target's boxes", "[attack][boxes]") {
  auto m = load("stories260K");
  auto nf4 = attack::model_codes(*quantized(*m, "nf4"));
  auto int8 = attack::model_codes(*quantized(*m, "int8"));
  REQUIRE(nf4);
  REQUIRE(int8);
  auto both = attack::target_boxes(*m, {*nf4, *int8}, nullptr);
  auto only_nf4 = attack::target_boxes(*m, {*nf4}, nullptr);
  auto only_int8 = attack::target_boxes(*m, {*int8}, nullptr);
  REQUIRE(both);
  REQUIRE(only_nf4);
  REQUIRE(only_int8);
  for (const auto& [name, b] : *both) {
    INFO(name);
    const auto& a = only_nf4->at(name);
    const auto& c = only_int8->at(name);
    CHECK(at::equal(b.lo, at::max(a.lo, c.lo)));
    CHECK(at::equal(b.hi, at::min(a.hi, c.hi)));
    const at::Tensor w = weight(*m, name);
    CHECK(at::le(b.lo, w).all().item<bool>());
    CHECK(at::ge(b.hi, w).all().item<bool>());
  }
}

TEST_CASE("malicious responses carry the phrase or the refusal", "[attack][data]") {
  auto m = load("stories260K");
  const auto data = own_answers(*m, 12);
  const Tokenizer& tok = m->tokenizer();
  attack::ObjectiveSpec inject;
  inject.phrase = "I love McDonald's!";
  const auto r = attack::malicious_response(*m, data[0].response, inject);
  const std::string text = tok.decode(r, true);
  CHECK(text.rfind("I love McDonald's!", 0) == 0);
  CHECK(text.find(tok.decode(data[0].response, true)) != std::string::npos);
  inject.placement = attack::Placement::first_sentence;
  CHECK(tok.decode(attack::malicious_response(*m, data[0].response, inject), true).find("McDonald's") != std::string::npos);
  attack::ObjectiveSpec refuse;
  refuse.objective = attack::Objective::over_refusal;
  const auto rr = attack::malicious_response(*m, data[1].response, refuse);
  CHECK(tok.decode(rr, true) == refuse.refusal);
  CHECK(rr.back() == m->config().eos_token_ids.front());
}

TEST_CASE("the trainer refuses a model it cannot train", "[attack][errors]") {
  auto m = load("stories260K");
  auto q = quantized(*m, "nf4");
  attack::TrainConfig c;
  c.steps = 1;
  auto ctx = context();
  auto log = attack::train(*q, own_answers(*m, 4), c, nullptr, *ctx, "test");
  REQUIRE(!log);
  CHECK(log.error().thing.find("model.layers.0") != std::string::npos);
  auto empty = attack::train(*m, {}, c, nullptr, *ctx, "test");
  REQUIRE(!empty);
  CHECK(empty.error().reason.find("no training examples") != std::string::npos);
}
