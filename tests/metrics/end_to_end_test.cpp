// The perplexity, kl_divergence, model_size and speed plugins end to end through the registry
// (hf backend on the shared stories260K checkpoint, float32, CPU).
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/linear.hpp>
#include <qrun/metric.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>

using namespace qrun;
using Catch::Matchers::WithinRel;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

// The device of the reference-number tests: env QRUN_TEST_DEVICE ("cuda" on the GPU machine), else cpu.
std::string test_device() {
  const char* env = std::getenv("QRUN_TEST_DEVICE");
  return env && *env ? env : "cpu";
}

std::unique_ptr<Model> load_model(const std::string& asset_folder, const std::string& device = "cpu") {
  auto backend = registry().make_backend(
      "hf", {{"path", test::asset(asset_folder).string()}, {"dtype", std::string("float32")}, {"device", device}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(device));
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

// A clone with Gaussian noise of `scale` × each linear weight's RMS added (float32).
std::unique_ptr<Model> noisy_clone(const Model& m, double scale) {
  auto clone = m.clone();
  if (!clone) FAIL(clone.error().message());
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  for (const std::string& name : (*clone)->linear_names()) {
    const LinearImpl& l = (*clone)->linear(name);
    const at::Tensor w = l.weight(at::kFloat);
    const at::Tensor noisy = w + at::randn(w.sizes(), gen, at::kFloat) * w.square().mean().sqrt() * scale;
    REQUIRE((*clone)->set_linear(name, make_dense_linear(noisy, l.bias(), at::kFloat)).ok());
  }
  return std::move(*clone);
}

Dataset wikitext() {
  return Dataset{"wikitext2", test::asset("datasets/wikitext-2-raw/wiki.test.raw"), ""};
}

std::vector<MetricResult> run_metric(const std::string& name, const ParamMap& params, Model& baseline,
                                     std::vector<VariantModel> variants, const Dataset* data) {
  auto metric = registry().make_metric(name, params);
  if (!metric) FAIL(metric.error().message());
  MetricInputs in;
  in.baseline = &baseline;
  in.variants = std::move(variants);
  in.dataset = data;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto results = (*metric)->evaluate(in, *ctx);
  if (!results) FAIL(results.error().message());
  REQUIRE(results->size() == in.variants.size());
  return std::move(*results);
}

MetricValue find(const MetricResult& r, const std::string& name) {
  for (const auto& v : r.values)
    if (v.name == name && v.group.empty()) return v;
  FAIL("no value named " << name);
  return {};
}

}  // namespace

// The two reference-number tests score the whole file (3183 windows of 512 tokens for
// stories260K, 584 of 1024 with a 151936-row LM head for tiny-qwen2): minutes to hours of CPU, so
// they are hidden and run on the GPU machine: `QRUN_TEST_DEVICE=cuda test_metrics "[gpu]"`.
TEST_CASE("sliding perplexity of stories260K on WikiText-2 equals the transformers reference", "[.][gpu][metrics][perplexity][golden]") {
  // tests/golden/hf_references.json (bench/reference/hf_references.py: transformers 5.17, torch
  // 2.11, H100, float32 eager, TF32 off): the HF doc procedure with max_length 512, stride 256.
  std::ifstream f(test::source_dir() / "tests/golden/hf_references.json");
  REQUIRE(f.good());
  const auto ref = nlohmann::json::parse(f)["models"]["stories260K"]["sliding"];
  auto model = load_model("models/stories260K", test_device());
  const Dataset data = wikitext();
  auto r = run_metric("perplexity",
                      {{"protocol", std::string("sliding")}, {"max_length", std::int64_t{512}},
                       {"stride", std::int64_t{256}}, {"batch_size", std::int64_t{16}}},
                      *model, {{"stories260K", model.get(), true}}, &data);
  const MetricValue ppl = find(r[0], "ppl"), token_mean = find(r[0], "ppl_token_mean");
  CHECK(r[0].details["tokens_in_text"] == ref["tokens_in_text"]);
  CHECK(r[0].details["windows"] == ref["windows"]);
  CHECK(ppl.n == ref["doc_n_tokens"].get<std::int64_t>());
  CHECK(token_mean.n == ref["exact_n_tokens"].get<std::int64_t>());
  // 1e-4 relative (the acceptance bound): same float32 maths on CPU vs GPU, other sum orders.
  CHECK_THAT(ppl.value, WithinRel(ref["doc_ppl"].get<double>(), 1e-4));
  CHECK_THAT(token_mean.value, WithinRel(ref["exact_ppl"].get<double>(), 1e-4));
  WARN("stories260K sliding 512/256: ppl " << ppl.value << " (HF " << ref["doc_ppl"].get<double>() << "), token mean "
                                           << token_mean.value << " (HF " << ref["exact_ppl"].get<double>() << ")");
}

TEST_CASE("sliding perplexity of tiny-qwen2 on WikiText-2 equals the transformers reference", "[.][gpu][metrics][perplexity][golden]") {
  // tests/golden/hf_references.json: the HF doc procedure with max_length 1024, stride 512
  // (transformers 5.17, H100, float32 eager, TF32 off).
  std::ifstream f(test::source_dir() / "tests/golden/hf_references.json");
  REQUIRE(f.good());
  const auto ref = nlohmann::json::parse(f)["models"]["tiny-qwen2"]["sliding"];
  const std::string device = test_device();
  auto model = load_model("models/tiny-qwen2", device);
  const Dataset data = wikitext();
  auto r = run_metric("perplexity",
                      {{"protocol", std::string("sliding")}, {"max_length", std::int64_t{1024}},
                       {"stride", std::int64_t{512}}, {"batch_size", std::int64_t{8}}},
                      *model, {{"tiny-qwen2", model.get(), true}}, &data);
  CHECK(r[0].details["tokens_in_text"] == ref["tokens_in_text"]);
  CHECK(find(r[0], "ppl").n == ref["doc_n_tokens"].get<std::int64_t>());
  // 1e-4 relative (the acceptance bound): same float32 maths, other kernels and sum orders.
  CHECK_THAT(find(r[0], "ppl").value, WithinRel(ref["doc_ppl"].get<double>(), 1e-4));
  CHECK_THAT(find(r[0], "ppl_token_mean").value, WithinRel(ref["exact_ppl"].get<double>(), 1e-4));
  WARN("tiny-qwen2 sliding 1024/512 on " << device << ": ppl " << find(r[0], "ppl").value << " (HF "
                                         << ref["doc_ppl"].get<double>() << ")");
}

TEST_CASE("perplexity is lower for trained stories260K than for the same model with heavy noise", "[metrics][perplexity]") {
  auto model = load_model("models/stories260K");
  auto noisy = noisy_clone(*model, 1.0);
  const Dataset data = wikitext();
  const ParamMap p{{"protocol", std::string("chunks")}, {"n_ctx", std::int64_t{256}}, {"max_tokens", std::int64_t{4096}}};
  const double clean = find(run_metric("perplexity", p, *model, {{"clean", model.get(), true}}, &data)[0], "ppl").value;
  const double bad = find(run_metric("perplexity", p, *model, {{"noisy", noisy.get(), false}}, &data)[0], "ppl").value;
  CHECK(clean < bad);
  CHECK(std::isfinite(bad));
}

TEST_CASE("chunks perplexity scores the second half of each chunk with a stderr", "[metrics][perplexity]") {
  auto model = load_model("models/stories260K");
  const Dataset data = wikitext();
  auto r = run_metric("perplexity",
                      {{"protocol", std::string("chunks")}, {"n_ctx", std::int64_t{128}}, {"max_tokens", std::int64_t{1000}}},
                      *model, {{"m", model.get(), true}}, &data);
  const MetricValue ppl = find(r[0], "ppl");
  CHECK(ppl.n == 7 * (128 - 1 - 64));  // 1000 / 128 = 7 chunks of 63 scored tokens
  REQUIRE(ppl.stderr_.has_value());
  CHECK(*ppl.stderr_ > 0);
  CHECK(r[0].details["bos"] == true);  // the stories260K tokenizer prepends <s>
}

TEST_CASE("documents perplexity reports word and byte perplexity and bits per byte", "[metrics][perplexity]") {
  auto model = load_model("models/stories260K");
  const Dataset data = wikitext();
  auto r = run_metric("perplexity", {{"protocol", std::string("documents")}, {"max_tokens", std::int64_t{1}}}, *model,
                      {{"m", model.get(), true}}, &data);
  // max_tokens 1: only the first page (" = Robert Boulter = ...").
  CHECK(r[0].details["documents"] == 1);
  const double ll = r[0].details["loglikelihood"].get<double>();
  const auto words = r[0].details["words"].get<std::int64_t>(), bytes = r[0].details["bytes"].get<std::int64_t>();
  CHECK(ll < 0);
  CHECK_THAT(find(r[0], "word_perplexity").value, WithinRel(std::exp(-ll / static_cast<double>(words)), 1e-12));
  CHECK_THAT(find(r[0], "byte_perplexity").value, WithinRel(std::exp(-ll / static_cast<double>(bytes)), 1e-12));
  CHECK_THAT(find(r[0], "bits_per_byte").value, WithinRel(-ll / static_cast<double>(bytes) / std::log(2.0), 1e-12));
  // Every token of the page is scored once (rolling windows with the BOS prefix).
  CHECK(find(r[0], "tokens").n == r[0].details["tokens_scored"].get<std::int64_t>());
}

TEST_CASE("max_windows scores only the first windows and says so in the method", "[metrics][perplexity][quick]") {
  auto model = load_model("models/stories260K");
  const Dataset data = wikitext();
  auto r = run_metric("perplexity",
                      {{"protocol", std::string("sliding")}, {"max_length", std::int64_t{128}}, {"stride", std::int64_t{64}},
                       {"max_windows", std::int64_t{3}}},
                      *model, {{"m", model.get(), true}}, &data);
  CHECK(r[0].details["windows"] == 3);
  // Window 0 scores tokens 1..127, windows 1 and 2 their last 64 tokens (HF doc's trg_len).
  CHECK(find(r[0], "tokens").n == 127 + 64 + 64);
  CHECK(r[0].method.find("Reduced run: only the first 3 of these") != std::string::npos);
}

TEST_CASE("max_windows with the documents protocol keeps whole pages", "[metrics][perplexity][quick]") {
  auto model = load_model("models/stories260K");
  const Dataset data = wikitext();
  auto r = run_metric("perplexity", {{"protocol", std::string("documents")}, {"max_length", std::int64_t{128}},
                                     {"max_windows", std::int64_t{1}}},
                      *model, {{"m", model.get(), true}}, &data);
  CHECK(r[0].details["documents"] == 1);  // the first page, all of its windows
  CHECK(r[0].details["windows"].get<std::int64_t>() > 1);
  CHECK(find(r[0], "tokens").n == r[0].details["tokens_used"].get<std::int64_t>());
  CHECK(r[0].method.find("max_windows=1") != std::string::npos);
}

TEST_CASE("kl_divergence with max_windows compares only the first chunks", "[metrics][kl][quick]") {
  auto model = load_model("models/stories260K");
  auto noisy = noisy_clone(*model, 0.5);
  const Dataset data = wikitext();
  auto r = run_metric("kl_divergence", {{"n_ctx", std::int64_t{128}}, {"max_windows", std::int64_t{2}}}, *model,
                      {{"noisy", noisy.get(), false}}, &data);
  CHECK(find(r[0], "kl_mean").n == 2 * 63);
  CHECK(r[0].details["corpus"]["windows"] == 2);
  CHECK(r[0].method.find("max_windows") != std::string::npos);
}

TEST_CASE("KL of an untransformed clone against the baseline is exactly zero with 100 % same top p", "[metrics][kl]") {
  auto model = load_model("models/stories260K");
  auto clone = model->clone();
  REQUIRE(clone.ok());
  const Dataset data = wikitext();
  auto r = run_metric("kl_divergence", {{"n_ctx", std::int64_t{128}}, {"max_tokens", std::int64_t{2048}}}, *model,
                      {{"baseline", model.get(), true}, {"clone", clone->get(), false}}, &data);
  for (const MetricResult& res : r) {
    CHECK(find(res, "kl_mean").value == 0.0);
    CHECK(find(res, "kl_max").value == 0.0);
    CHECK(find(res, "same_top_p").value == 100.0);
    CHECK(find(res, "ln_ppl_ratio").value == 0.0);
    CHECK(find(res, "kl_mean").n == 16 * 63);
  }
}

TEST_CASE("KL against a noisy variant is positive and its PPL ratio above one", "[metrics][kl]") {
  auto model = load_model("models/stories260K");
  auto noisy = noisy_clone(*model, 0.5);
  const Dataset data = wikitext();
  auto r = run_metric("kl_divergence", {{"protocol", std::string("sliding")}, {"max_length", std::int64_t{256}},
                                        {"max_tokens", std::int64_t{2048}}},
                      *model, {{"noisy", noisy.get(), false}}, &data);
  CHECK(find(r[0], "kl_mean").value > 0.0);
  CHECK(find(r[0], "kl_min").value >= -1e-9);
  CHECK(find(r[0], "same_top_p").value < 100.0);
  CHECK(find(r[0], "ppl_ratio").value > 1.0);
  CHECK(r[0].method.find("KL(P_base") != std::string::npos);
}

TEST_CASE("model_size of float32 stories260K is 4 bytes per parameter, half the compression of fp16", "[metrics][size]") {
  auto model = load_model("models/stories260K");
  auto r = run_metric("model_size", {}, *model, {{"m", model.get(), true}}, nullptr);
  const MetricValue total = find(r[0], "total_bytes"), params = find(r[0], "parameters");
  CHECK(total.value == 4 * params.value);
  CHECK(find(r[0], "compression_vs_fp16").value == 0.5);
  CHECK(find(r[0], "quantized_linear_bytes").value == 0.0);
  CHECK(find(r[0], "linear_bits_per_parameter").value == 32.0);
}

TEST_CASE("speed reports positive prefill and decode tokens per second with the device", "[metrics][speed]") {
  auto model = load_model("models/stories260K");
  auto r = run_metric("speed",
                      {{"prompt_tokens", std::int64_t{16}}, {"new_tokens", std::int64_t{8}}, {"repetitions", std::int64_t{3}},
                       {"warmup", std::int64_t{1}}},
                      *model, {{"m", model.get(), true}}, nullptr);
  CHECK(find(r[0], "prefill_tokens_per_s").value > 0);
  CHECK(find(r[0], "decode_tokens_per_s").value > 0);
  CHECK(find(r[0], "prefill_tokens_per_s").n == 3);
  CHECK(r[0].details["device"].get<std::string>().rfind("cpu", 0) == 0);
}

TEST_CASE("perplexity without a dataset is an error naming the metric", "[metrics][errors]") {
  auto model = load_model("models/stories260K");
  auto metric = registry().make_metric("perplexity", {});
  REQUIRE(metric.ok());
  MetricInputs in;
  in.baseline = model.get();
  in.variants = {{"m", model.get(), true}};
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*metric)->evaluate(in, *ctx);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "perplexity");
  CHECK(r.error().fix.find("dataset") != std::string::npos);
}

TEST_CASE("a stride above max_length is refused before any forward pass", "[metrics][errors]") {
  auto model = load_model("models/stories260K");
  const Dataset data = wikitext();
  auto metric = registry().make_metric("perplexity", {{"max_length", std::int64_t{64}}, {"stride", std::int64_t{65}}});
  REQUIRE(metric.ok());
  MetricInputs in;
  in.baseline = model.get();
  in.variants = {{"m", model.get(), true}};
  in.dataset = &data;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*metric)->evaluate(in, *ctx);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "perplexity.stride");
}
