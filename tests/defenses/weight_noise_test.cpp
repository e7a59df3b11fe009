// weight_noise: the noise statistics on a large tensor (qrun/defense/weight_noise.hpp) and the
// plugin on tiny-qwen2 (layer selection, seeds, refusals, report).
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/defense/weight_noise.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace qrun;
using qrun::defense::NoiseMode;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// 2 % relative: the sample std of n = 1M normal draws has relative standard error 1/sqrt(2n) = 0.07 %,
// so 2 % is ~28 standard errors (float32 rounding of w + noise adds < 1e-6 relative).
constexpr double kStdTol = 0.02;

at::Tensor large_weight() {
  at::Generator g = make_default_context(7, c10::Device(c10::kCPU))->generator(7);
  return at::randn({1000, 1000}, g, at::TensorOptions().dtype(at::kFloat)) * 0.02;
}

defense::NoisedWeight noise(const at::Tensor& w, NoiseMode mode, double std, std::uint64_t seed) {
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  at::Generator g = ctx->generator(seed);
  auto r = defense::add_weight_noise(w, mode, std, g, "w");
  if (!r.ok()) FAIL(r.error().message());
  return std::move(*r);
}

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> tiny_qwen2() {
  auto backend = registry().make_backend("hf", {{"path", test::asset("models/tiny-qwen2").string()}});
  REQUIRE(backend.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model.ok()) FAIL(model.error().message());
  return std::move(*model);
}

Result<TransformReport> apply_noise(Model& model, const ParamMap& params) {
  auto t = registry().make_transform("weight_noise", params);
  if (!t.ok()) return t.error();
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  return (*t)->apply(model, *ctx);
}

bool same_weight(const Model& a, const Model& b, const std::string& name) {
  return at::equal(a.linear(name).weight(at::kFloat), b.linear(name).weight(at::kFloat));
}

}  // namespace

TEST_CASE("absolute weight noise has mean zero and the requested std on a large tensor", "[weight_noise]") {
  c10::InferenceMode guard;
  const at::Tensor w = large_weight();
  const auto r = noise(w, NoiseMode::absolute, 1e-3, 1);
  const at::Tensor delta = r.weight.to(at::kDouble) - w.to(at::kDouble);
  // mean of 1M draws of N(0, 1e-3²): standard error 1e-6; 6e-6 is 6 standard errors.
  REQUIRE_THAT(delta.mean().item<double>(), WithinAbs(0.0, 6e-6));
  REQUIRE_THAT(delta.std().item<double>(), WithinRel(1e-3, kStdTol));
  REQUIRE_THAT(r.delta.std(), WithinRel(delta.std().item<double>(), 1e-9));  // the reported value is measured
  REQUIRE(r.weight.scalar_type() == at::kFloat);
}

TEST_CASE("the same seed gives identical noise and another seed different noise", "[weight_noise]") {
  c10::InferenceMode guard;
  const at::Tensor w = large_weight();
  REQUIRE(at::equal(noise(w, NoiseMode::absolute, 1e-3, 5).weight, noise(w, NoiseMode::absolute, 1e-3, 5).weight));
  REQUIRE_FALSE(at::equal(noise(w, NoiseMode::absolute, 1e-3, 5).weight, noise(w, NoiseMode::absolute, 1e-3, 6).weight));
}

TEST_CASE("row-relative noise scales each row by its std or absmax", "[weight_noise]") {
  c10::InferenceMode guard;
  // Row r scaled by (r + 1): row std and absmax grow linearly, so must the noise.
  const at::Tensor rows = at::arange(1, 201, at::TensorOptions().dtype(at::kFloat)).unsqueeze(1);
  const at::Tensor w = large_weight().narrow(0, 0, 200) * rows;
  for (NoiseMode mode : {NoiseMode::row_std, NoiseMode::row_absmax}) {
    CAPTURE(defense::to_string(mode));
    const auto r = noise(w, mode, 0.01, 3);
    const at::Tensor delta = r.weight.to(at::kDouble) - w.to(at::kDouble);
    const at::Tensor scale = mode == NoiseMode::row_std ? w.to(at::kDouble).std(at::IntArrayRef{1}, /*unbiased=*/false, /*keepdim=*/false)
                                                        : std::get<0>(w.to(at::kDouble).abs().max(1));
    // Per row, std of delta / (0.01 * row scale) ~ 1: 1000 draws per row, relative standard error
    // 2.2 %, so 15 % is ~7 standard errors for the worst of 200 rows.
    const at::Tensor per_row = delta.std(at::IntArrayRef{1}, /*unbiased=*/true, /*keepdim=*/false) / (scale * 0.01);
    REQUIRE(per_row.min().item<double>() > 0.85);
    REQUIRE(per_row.max().item<double>() < 1.15);
    REQUIRE_THAT(r.relative.std(), WithinRel(0.01, kStdTol));
  }
}

TEST_CASE("weight noise refuses a NaN or negative std", "[weight_noise]") {
  c10::InferenceMode guard;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  at::Generator g = ctx->generator(0);
  const at::Tensor w = at::ones({4, 4});
  auto nan = defense::add_weight_noise(w, NoiseMode::absolute, std::numeric_limits<double>::quiet_NaN(), g, "w");
  REQUIRE_FALSE(nan.ok());
  REQUIRE(nan.error().thing == "w std");
  auto neg = defense::add_weight_noise(w, NoiseMode::absolute, -1e-3, g, "w");
  REQUIRE_FALSE(neg.ok());
  REQUIRE_FALSE(neg.error().fix.empty());
}

TEST_CASE("the weight_noise plugin schema refuses a negative std", "[weight_noise]") {
  auto t = registry().make_transform("weight_noise", {{"std", -0.5}});
  REQUIRE_FALSE(t.ok());
  REQUIRE(t.error().thing.find("std") != std::string::npos);
}

TEST_CASE("weight_noise perturbs the included layers and leaves excluded ones untouched", "[weight_noise]") {
  c10::InferenceMode guard;
  auto original = tiny_qwen2();
  auto model = tiny_qwen2();
  auto report = apply_noise(*model, {{"std", 0.01}, {"seed", std::int64_t{1}}, {"exclude", std::vector<std::string>{"mlp"}}});
  if (!report.ok()) FAIL(report.error().message());
  REQUIRE(report->details["layers_touched"].get<std::int64_t>() == 8);  // 2 layers x 4 attention projections
  for (const auto& name : model->linear_names()) {
    CAPTURE(name);
    REQUIRE(same_weight(*model, *original, name) == (name.find("mlp") != std::string::npos));
  }
  // bf16 storage: realised std is measured after the cast back, close to 0.01 (bf16 ulp at 0.01 ~ 6e-5).
  REQUIRE_THAT(report->details["realised_std"].get<double>(), WithinRel(0.01, 0.05));
}

TEST_CASE("weight_noise with one seed gives identical models and another seed a different one", "[weight_noise]") {
  c10::InferenceMode guard;
  auto a = tiny_qwen2(), b = tiny_qwen2(), c = tiny_qwen2();
  REQUIRE(apply_noise(*a, {{"std", 1e-3}, {"seed", std::int64_t{9}}}).ok());
  REQUIRE(apply_noise(*b, {{"std", 1e-3}, {"seed", std::int64_t{9}}}).ok());
  REQUIRE(apply_noise(*c, {{"std", 1e-3}, {"seed", std::int64_t{10}}}).ok());
  const std::string first = a->linear_names()[0];
  for (const auto& name : a->linear_names()) REQUIRE(same_weight(*a, *b, name));
  REQUIRE_FALSE(same_weight(*a, *c, first));
}

TEST_CASE("weight_noise refuses patterns that select no layer", "[weight_noise]") {
  auto model = tiny_qwen2();
  auto report = apply_noise(*model, {{"include", std::vector<std::string>{"no_such_layer"}}});
  REQUIRE_FALSE(report.ok());
  REQUIRE(report.error().thing == "weight_noise.include");
}
