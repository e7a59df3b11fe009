// The dequantization detector (qrun/forensics/dequant_detector.hpp): the grid-fit building blocks,
// then tiny-qwen2 dequantized from NF4/FP4/LLM.int8 through the library (stored as float32,
// float16 and bfloat16) against the genuine tiny-qwen2, its noised copy and stories260K.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/defense/weight_noise.hpp>
#include <qrun/forensics/dequant_detector.hpp>
#include <qrun/forensics/grid_fit.hpp>
#include <qrun/model.hpp>
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace qrun;
namespace fx = qrun::forensics;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::string& folder) {
  auto backend = registry().make_backend("hf", {{"path", test::asset(folder).string()}});
  if (!backend.ok()) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model.ok()) FAIL(model.error().message());
  return std::move(*model);
}

enum class Scheme { nf4, fp4, int8 };

// Every linear layer quantized through the library, then LinearImpl::weight(float32) stored back
// as a dense weight in `storage`: what a "full-precision" checkpoint made from a quantized model holds.
std::unique_ptr<Model> dequantized(const Model& original, Scheme scheme, at::ScalarType storage,
                                   std::int64_t blocksize = 64, bool double_quant = true) {
  c10::InferenceMode guard;
  auto clone = original.clone();
  REQUIRE(clone.ok());
  std::unique_ptr<Model> m = std::move(*clone);
  const at::ScalarType compute = to_scalar_type(m->compute_dtype());
  for (const std::string& name : m->linear_names()) {
    const LinearImpl& dense = m->linear(name);
    const at::Tensor w = dense.weight(to_scalar_type(m->storage_dtype()));
    Result<std::shared_ptr<LinearImpl>> q = Error{name, "not quantized", ""};
    if (scheme == Scheme::int8) {
      q = quant::make_int8_linear(w, dense.bias(), 0.0, compute, name);
    } else {
      const quant::FourBitConfig cfg{scheme == Scheme::nf4 ? quant::FourBit::nf4 : quant::FourBit::fp4, blocksize,
                                     double_quant};
      q = quant::make_4bit_linear(w, dense.bias(), cfg, compute, name);
    }
    if (!q.ok()) FAIL(q.error().message());
    REQUIRE(m->set_linear(name, make_dense_linear((*q)->weight(at::kFloat).to(storage), dense.bias(), compute)).ok());
  }
  return m;
}

fx::DetectionReport detect(const Model& m) {
  auto r = fx::detect_dequantized(m, fx::DetectorConfig{});
  if (!r.ok()) FAIL(r.error().message());
  return std::move(*r);
}

// Every linear layer flagged with `expected`, and the verdict names it.
void require_flagged_everywhere(const fx::DetectionReport& r, const fx::Candidate& expected) {
  INFO(r.verdict.text());
  REQUIRE(r.verdict.dequantized);
  REQUIRE(r.verdict.candidate.has_value());
  REQUIRE(*r.verdict.candidate == expected);
  REQUIRE(r.verdict.flagged_layers == static_cast<std::int64_t>(r.layers.size()));
  for (const auto& l : r.layers) {
    INFO(l.name);
    REQUIRE(l.flagged);
    // By construction every unit of a dequantized weight fits, and no reference unit does.
    REQUIRE(l.best_evidence()->observed.unit_rate() == 1.0);
    REQUIRE(l.best_evidence()->chance.unit_rate() == 0.0);
  }
}

void require_no_evidence(const fx::DetectionReport& r) {
  INFO(r.verdict.text());
  REQUIRE_FALSE(r.verdict.dequantized);
  REQUIRE(r.verdict.tested_layers == static_cast<std::int64_t>(r.layers.size()));
  for (const auto& l : r.layers) {
    INFO(l.name);
    REQUIRE_FALSE(l.flagged);
    REQUIRE(l.best_evidence()->observed.unit_rate() <= fx::kDefaultChanceCeiling);
  }
}

const at::ScalarType kStorages[] = {at::kFloat, at::kHalf, at::kBFloat16};

}  // namespace

TEST_CASE("effective_dtype finds the narrowest float format holding every value", "[forensics][detector]") {
  const at::Tensor x = at::randn({256}, at::TensorOptions().dtype(at::kFloat));
  REQUIRE(fx::effective_dtype(x) == DType::f32);
  REQUIRE(fx::effective_dtype(x.to(at::kHalf).to(at::kFloat)) == DType::f16);
  REQUIRE(fx::effective_dtype(x.to(at::kBFloat16).to(at::kFloat)) == DType::bf16);
  REQUIRE(fx::effective_dtype(x.to(at::kHalf)) == DType::f16);
}

TEST_CASE("half_ulp is half the spacing of the format at the value", "[forensics][detector]") {
  const at::Tensor one = at::ones({1}, at::TensorOptions().dtype(at::kDouble));
  REQUIRE(fx::half_ulp(one, DType::f32).item<double>() == std::ldexp(1.0, -24));
  REQUIRE(fx::half_ulp(one, DType::f16).item<double>() == std::ldexp(1.0, -11));
  REQUIRE(fx::half_ulp(one, DType::bf16).item<double>() == std::ldexp(1.0, -8));
  // 1.5 is in the same binade as 1; 0 and float16 subnormals take the subnormal spacing 2^-24.
  REQUIRE(fx::half_ulp(one * 1.5, DType::bf16).item<double>() == std::ldexp(1.0, -8));
  REQUIRE(fx::half_ulp(one * 0.0, DType::f16).item<double>() == std::ldexp(1.0, -25));
  REQUIRE(fx::half_ulp(one * 1e-6, DType::f16).item<double>() == std::ldexp(1.0, -25));
}

TEST_CASE("a block of code values times a scale fits and one moved value breaks it", "[forensics][detector]") {
  const auto& codes = fx::candidate_codes(fx::GridScheme::nf4);
  const float scale = 0.0371f;
  std::vector<float> block;
  for (int i = 0; i < 64; ++i) block.push_back(static_cast<float>(codes[(i * 7) % codes.size()]) * scale);
  at::Tensor units = at::tensor(block, at::TensorOptions().dtype(at::kFloat)).view({1, 64});
  fx::FitCounts f = fx::fit_code_book(units, codes, DType::f32, true);
  REQUIRE(f.fitting_units == 1);
  REQUIRE(f.distinct_max == 16);
  units[0][5] += 1e-4f * scale;  // far beyond float32 rounding (~6e-8 relative)
  f = fx::fit_code_book(units, codes, DType::f32, false);
  REQUIRE(f.fitting_units == 0);
  REQUIRE(f.fitting_elements == 63);
}

TEST_CASE("an all-zero block is degenerate and not counted as a fit", "[forensics][detector]") {
  const fx::FitCounts f =
      fx::fit_code_book(at::zeros({3, 64}, at::kFloat), fx::candidate_codes(fx::GridScheme::nf4), DType::f32, true);
  REQUIRE(f.units == 0);
  REQUIRE(f.degenerate_units == 3);
  REQUIRE(f.unit_rate() == 0.0);
}

TEST_CASE("a weight with NaN is refused naming the weight", "[forensics][detector]") {
  at::Tensor w = at::zeros({64, 64}, at::kFloat);
  w[3][4] = std::numeric_limits<float>::quiet_NaN();
  auto r = fx::examine_weight("layer.weight", w, fx::DetectorConfig{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "layer.weight");
  REQUIRE_FALSE(r.error().fix.empty());
}

TEST_CASE("a fit threshold outside [0, 1] is refused naming the field", "[forensics][detector]") {
  fx::DetectorConfig c;
  c.fit_threshold = 1.5;
  auto r = fx::check_config(c, "quantization_detector");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "quantization_detector.fit_threshold");
}

TEST_CASE("a dequantized NF4 tiny-qwen2 is detected as NF4 blocksize 64 in every storage dtype",
          "[forensics][detector]") {
  const auto original = load_model("models/tiny-qwen2");
  for (at::ScalarType storage : kStorages) {
    INFO("stored as " << c10::toString(storage));
    require_flagged_everywhere(detect(*dequantized(*original, Scheme::nf4, storage)),
                               {fx::GridScheme::nf4, 64});
  }
}

TEST_CASE("a dequantized NF4 rounded to float16 and then to bfloat16 is still detected", "[forensics][detector]") {
  // Double rounding (bitsandbytes dequantizes to the float16 compute dtype, the checkpoint is saved
  // as bfloat16) can exceed the single-rounding bound in a few units; the 95 % fit threshold absorbs it.
  const auto original = load_model("models/tiny-qwen2");
  auto m = dequantized(*original, Scheme::nf4, at::kHalf);
  const at::ScalarType compute = to_scalar_type(m->compute_dtype());
  for (const std::string& name : m->linear_names()) {
    const LinearImpl& l = m->linear(name);
    REQUIRE(m->set_linear(name, make_dense_linear(l.weight(at::kHalf).to(at::kBFloat16), l.bias(), compute)).ok());
  }
  const auto r = detect(*m);
  INFO(r.verdict.text());
  REQUIRE(r.verdict.dequantized);
  REQUIRE(*r.verdict.candidate == fx::Candidate{fx::GridScheme::nf4, 64});
  REQUIRE(r.verdict.flagged_layers == static_cast<std::int64_t>(r.layers.size()));
}

TEST_CASE("a dequantized LLM.int8 tiny-qwen2 is detected as int8 rows in every storage dtype",
          "[forensics][detector]") {
  const auto original = load_model("models/tiny-qwen2");
  for (at::ScalarType storage : kStorages) {
    INFO("stored as " << c10::toString(storage));
    require_flagged_everywhere(detect(*dequantized(*original, Scheme::int8, storage)), {fx::GridScheme::int8, 0});
  }
}

TEST_CASE("a dequantized FP4 with blocksize 128 is told apart from NF4 and from other blocksizes",
          "[forensics][detector]") {
  const auto original = load_model("models/tiny-qwen2");
  const auto r = detect(*dequantized(*original, Scheme::fp4, at::kBFloat16, 128, /*double_quant=*/false));
  INFO(r.verdict.text());
  REQUIRE(r.verdict.dequantized);
  REQUIRE(*r.verdict.candidate == fx::Candidate{fx::GridScheme::fp4, 128});
  for (const auto& l : r.layers) {  // layers with fewer than 16 blocks of 128 are not tested at 128
    if (l.flagged) REQUIRE(l.best_evidence()->candidate == fx::Candidate{fx::GridScheme::fp4, 128});
  }
}

TEST_CASE("the genuine tiny-qwen2 gives no evidence", "[forensics][detector]") {
  const auto r = detect(*load_model("models/tiny-qwen2"));
  require_no_evidence(r);
  REQUIRE(r.layers.front().effective_dtype == DType::bf16);  // stored as bfloat16
}

TEST_CASE("the noised tiny-qwen2 gives no evidence", "[forensics][detector]") {
  c10::InferenceMode guard;
  const auto original = load_model("models/tiny-qwen2");
  auto clone = original->clone();
  REQUIRE(clone.ok());
  Model& m = **clone;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  at::Generator gen = ctx->generator(1);
  for (const std::string& name : m.linear_names()) {
    const LinearImpl& l = m.linear(name);
    auto noised = defense::add_weight_noise(l.weight(to_scalar_type(m.storage_dtype())), defense::NoiseMode::row_std,
                                            0.01, gen, name);
    REQUIRE(noised.ok());
    REQUIRE(m.set_linear(name, make_dense_linear(noised->weight, l.bias(), to_scalar_type(m.compute_dtype()))).ok());
  }
  require_no_evidence(detect(m));
}

TEST_CASE("stories260K, a real pretrained float32 model, gives no evidence", "[forensics][detector]") {
  const auto r = detect(*load_model("models/stories260K"));
  require_no_evidence(r);
  REQUIRE(r.layers.front().effective_dtype == DType::f32);
}

TEST_CASE("the quantization_detector metric flags an nf4 variant and not its baseline", "[forensics][detector][metric]") {
  const auto original = load_model("models/tiny-qwen2");
  const auto variant = dequantized(*original, Scheme::nf4, at::kBFloat16);
  auto metric = registry().make_metric("quantization_detector", {});
  if (!metric.ok()) FAIL(metric.error().message());
  MetricInputs in;
  in.baseline = original.get();
  in.variants = {VariantModel{"baseline", original.get(), true}, VariantModel{"nf4_dequant", variant.get(), false}};
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto results = (*metric)->evaluate(in, *ctx);
  if (!results.ok()) FAIL(results.error().message());
  REQUIRE(results->size() == 2);
  auto value = [](const MetricResult& r, const std::string& name) {
    for (const auto& v : r.values)
      if (v.name == name) return v.value;
    FAIL("no value " << name);
    return 0.0;
  };
  REQUIRE(value((*results)[0], "dequantized") == 0.0);
  REQUIRE(value((*results)[0], "flagged_layers") == 0.0);
  REQUIRE(value((*results)[1], "dequantized") == 1.0);
  REQUIRE(value((*results)[1], "flagged_layers") == static_cast<double>(original->linear_names().size()));
  REQUIRE(value((*results)[1], "baseline_flagged_layers") == 0.0);
  REQUIRE((*results)[1].details["scheme"] == "nf4 bs64");
}

