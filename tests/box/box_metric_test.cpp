// The quantization_box metric through the registry on tiny-qwen2 (hf backend, float32, CPU):
// flip rate 0 for the baseline against itself and for a quantized copy of it, > 0 for a noised
// copy; per-layer details for every analysed layer.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/metric.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> tiny_qwen2() {
  auto backend = registry().make_backend(
      "hf", {{"path", test::asset("models/tiny-qwen2").string()}, {"dtype", std::string("float32")}, {"device", std::string("cpu")}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

std::unique_ptr<Model> transformed(const Model& base, const std::string& use, const ParamMap& params) {
  auto clone = base.clone();
  if (!clone) FAIL(clone.error().message());
  auto t = registry().make_transform(use, params);
  if (!t) FAIL(t.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(**clone, *ctx);
  if (!r) FAIL(r.error().message());
  return std::move(*clone);
}

std::vector<MetricResult> run_box(Model& base, std::vector<VariantModel> variants, const ParamMap& params = {}) {
  auto metric = registry().make_metric("quantization_box", params);
  if (!metric) FAIL(metric.error().message());
  MetricInputs in;
  in.baseline = &base;
  in.variants = std::move(variants);
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*metric)->evaluate(in, *ctx);
  if (!r) FAIL(r.error().message());
  REQUIRE(r->size() == in.variants.size());
  return std::move(*r);
}

double value(const MetricResult& r, const std::string& name) {
  for (const auto& v : r.values)
    if (v.name == name && v.group.empty()) return v.value;
  FAIL("no value " << name);
  return 0;
}

}  // namespace

TEST_CASE("quantization_box gives the baseline a flip rate of 0 against itself", "[quantization_box][metrics]") {
  auto base = tiny_qwen2();
  const auto r = run_box(*base, {{"base", base.get(), true}});
  CHECK(value(r[0], "flip_rate") == 0.0);
  CHECK(r[0].details["quantizer"] == "nf4 (blocksize 64)");
  // tiny-qwen2 ties lm_head to the embeddings: its 14 projections are all analysed
  CHECK(r[0].details["layers"].size() == base->linear_names().size());
  CHECK(value(r[0], "box_width_rel_absmax_mean") > 0.0);
  CHECK(value(r[0], "box_width_rel_absmax_mean") < 1.0);
}

TEST_CASE("quantization_box gives a noised dense variant a positive flip rate", "[quantization_box][metrics]") {
  auto base = tiny_qwen2();
  auto noised = transformed(*base, "weight_noise", {{"std", 1e-3}, {"mode", std::string("absolute")}});
  const auto r = run_box(*base, {{"base", base.get(), true}, {"noised", noised.get(), false}},
                         {{"quantizer", std::string("int8")}});
  CHECK(value(r[0], "flip_rate") == 0.0);
  CHECK(value(r[1], "flip_rate") > 0.0);
  CHECK(r[1].details["quantizer_source"] == "the metric's quantizer parameter");
  for (const auto& layer : r[1].details["layers"]) CHECK(layer["flip_rate_pct"].get<double>() > 0.0);
}

TEST_CASE("quantization_box reads a quantized variant's own codes: a quantized copy flips nothing", "[quantization_box][metrics]") {
  auto base = tiny_qwen2();
  auto nf4 = transformed(*base, "nf4", {{"blocksize", std::int64_t{128}}});
  auto int8 = transformed(*base, "int8", {});
  auto noised_int8 = transformed(*transformed(*base, "weight_noise", {{"std", 1e-3}}), "int8", {});
  const auto r = run_box(*base, {{"nf4", nf4.get(), false}, {"int8", int8.get(), false}, {"noised_int8", noised_int8.get(), false}});
  CHECK(r[0].details["quantizer"] == "nf4 (blocksize 128)");  // the variant's block size, not the parameter's
  CHECK(r[0].details["quantizer_source"] == "the variant's quantized layers");
  CHECK(value(r[0], "flip_rate") == 0.0);
  CHECK(r[1].details["quantizer"] == "int8 (row-wise absmax / 127)");
  CHECK(value(r[1], "flip_rate") == 0.0);
  CHECK(value(r[2], "flip_rate") > 0.0);
  // The box widths depend on the baseline and the quantizer only.
  CHECK(value(r[1], "box_width_mean") == value(r[2], "box_width_mean"));
}

TEST_CASE("quantization_box refuses a quantizer it does not know, naming the parameter", "[quantization_box][metrics][errors]") {
  auto metric = registry().make_metric("quantization_box", {{"quantizer", std::string("int4")}});
  REQUIRE_FALSE(metric.ok());
  CHECK(metric.error().thing.find("quantizer") != std::string::npos);
}

TEST_CASE("quantization_box refuses a 4-bit block size bitsandbytes does not offer", "[quantization_box][metrics][errors]") {
  auto base = tiny_qwen2();
  auto metric = registry().make_metric("quantization_box", {{"blocksize", std::int64_t{100}}});
  REQUIRE(metric.ok());
  MetricInputs in;
  in.baseline = base.get();
  in.variants = {{"base", base.get(), true}};
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*metric)->evaluate(in, *ctx);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "quantization_box.blocksize");
  CHECK(r.error().fix.find("power of two") != std::string::npos);
}
