// Storage is reported as stored, not as computed: a float16 model computed in float32 on the CPU
// (libtorch 1.13 has no fp16 CPU GEMM) is 16 bits per linear weight in model_size and in the
// runner's storage record, not the 32 of its float32 compute copy. Product plugins (hf,
// model_size) on the shared stories260K checkpoint.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <catch2/catch.hpp>

using namespace qrun;

namespace {

const Registry& product_registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load(const std::string& dtype) {
  auto backend = product_registry().make_backend(
      "hf", {{"path", test::asset("models/stories260K").string()}, {"dtype", dtype}, {"device", std::string("cpu")}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

double value_of(const MetricResult& r, const std::string& name) {
  for (const MetricValue& v : r.values)
    if (v.name == name) return v.value;
  FAIL("model_size returned no " << name);
  return 0;
}

}  // namespace

TEST_CASE("a float16 model computed in float32 on the CPU is 16 bits per linear weight", "[runner][storage]") {
  auto model = load("float16");
  REQUIRE(model->storage_dtype() == DType::f16);
  auto metric = product_registry().make_metric("model_size", {});
  REQUIRE(metric.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  MetricInputs in{model.get(), {{"fp16", model.get(), true}}, nullptr};
  auto r = (*metric)->evaluate(in, *ctx);
  REQUIRE(r.ok());
  CHECK(value_of((*r)[0], "linear_bits_per_parameter") == 16.0);  // 8 · 2 bytes per stored parameter
  const auto& formats = (*r)[0].details["linear_formats"];
  REQUIRE(formats.size() == 1);
  CHECK(formats.begin().key() == "float16");
  CHECK(formats.begin().value()["code_bits"] == 16);
  CHECK(formats.begin().value()["bits_per_weight"] == 16.0);
  // The runner's storage record (model_storage) counts the same linear bytes.
  const ModelStorage s = model_storage(*model);
  CHECK(static_cast<double>(s.linear_bytes) == value_of((*r)[0], "linear_bytes"));
  // The float32 load of the same checkpoint is 32 bits: the number follows the storage dtype.
  auto f32 = load("float32");
  CHECK(8.0 * static_cast<double>(model_storage(*f32).linear_bytes) == 2.0 * 8.0 * static_cast<double>(s.linear_bytes));
}
