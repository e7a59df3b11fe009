// The Model interface of the hf backend: named linear layers, swapping, cloning, dtypes, storage.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include <atomic>

using namespace qrun::test;

namespace {

// Forwards to another layer and counts calls.
class CountingLinear final : public qrun::LinearImpl {
 public:
  CountingLinear(std::shared_ptr<qrun::LinearImpl> inner, std::shared_ptr<std::atomic<int>> calls)
      : inner_(std::move(inner)), calls_(std::move(calls)) {}
  std::string kind() const override { return inner_->kind(); }
  std::int64_t in_features() const override { return inner_->in_features(); }
  std::int64_t out_features() const override { return inner_->out_features(); }
  at::Tensor forward(const at::Tensor& x) const override {
    ++*calls_;
    return inner_->forward(x);
  }
  at::Tensor weight(c10::ScalarType d) const override { return inner_->weight(d); }
  at::Tensor bias() const override { return inner_->bias(); }
  qrun::StorageInfo storage() const override { return inner_->storage(); }
  qrun::NamedTensors state() const override { return inner_->state(); }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override { return inner_->clone_to(d); }

 private:
  std::shared_ptr<qrun::LinearImpl> inner_;
  std::shared_ptr<std::atomic<int>> calls_;
};

}  // namespace

TEST_CASE("linear layers are listed by checkpoint name in forward order", "[backend][model]") {
  auto model = load_model(asset("models/tiny-qwen2"));
  const auto names = model->linear_names();
  REQUIRE(names.size() == 14);  // 2 layers x 7 projections; lm_head is tied, so not listed
  CHECK(names.front() == "model.layers.0.self_attn.q_proj");
  CHECK(names[3] == "model.layers.0.self_attn.o_proj");
  CHECK(names.back() == "model.layers.1.mlp.down_proj");
  CHECK(model->linear("model.layers.0.self_attn.k_proj").out_features() == 32);  // 2 kv heads x 16
  CHECK(model->linear("model.layers.0.self_attn.q_proj").bias().defined());
  CHECK_FALSE(model->linear("model.layers.0.self_attn.o_proj").bias().defined());
  CHECK_THROWS_AS(model->linear("model.layers.0.self_attn.x_proj"), qrun::ErrorException);
}

TEST_CASE("the forward pass calls every layer's LinearImpl::forward", "[backend][model]") {
  auto model = load_model(asset("models/stories260K"));
  const at::Tensor before = model->logits(row({1, 403, 407}));
  auto calls = std::make_shared<std::atomic<int>>(0);
  for (const auto& name : model->linear_names()) {
    auto inner = model->linear(name).clone_to(c10::Device(c10::kCPU));
    REQUIRE(model->set_linear(name, std::make_shared<CountingLinear>(inner, calls)).ok());
  }
  const at::Tensor after = model->logits(row({1, 403, 407}));
  CHECK(*calls == static_cast<int>(model->linear_names().size()));
  CHECK(after.equal(before));
}

TEST_CASE("set_linear refuses a replacement of the wrong shape", "[backend][model][errors]") {
  auto model = load_model(asset("models/stories260K"));
  auto wrong = qrun::make_dense_linear(at::zeros({3, 5}), at::Tensor(), at::kFloat);
  auto r = model->set_linear("model.layers.0.mlp.up_proj", wrong);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "linear 'model.layers.0.mlp.up_proj'");
  CHECK_FALSE(r.error().fix.empty());
}

TEST_CASE("clone is a deep copy with the same outputs", "[backend][model]") {
  auto model = load_model(asset("models/stories260K"));
  auto copy = model->clone();
  REQUIRE(copy.ok());
  const at::Tensor ids = row({1, 403, 407, 261});
  const at::Tensor base = model->logits(ids);
  CHECK((*copy)->logits(ids).equal(base));
  for (auto& [name, t] : (*copy)->other_tensors())
    if (name == "model.norm.weight") t.mul_(2.0);  // a defense editing the copy in place
  CHECK_FALSE((*copy)->logits(ids).equal(base));
  CHECK(model->logits(ids).equal(base));
}

TEST_CASE("dtype auto takes config.json's torch_dtype", "[backend][model][dtype]") {
  auto model = load_model(asset("models/tiny-qwen2"), "auto");
  CHECK(model->storage_dtype() == qrun::DType::bf16);
  CHECK(model->compute_dtype() == qrun::DType::bf16);
  CHECK(model->linear("model.layers.0.mlp.up_proj").storage().format == "bfloat16");
  const at::Tensor logits = model->logits(row({715, 284, 8397}));
  CHECK(logits.scalar_type() == at::kFloat);  // logits are always float32
}

TEST_CASE("bfloat16 weights loaded as float32 are the checkpoint's values exactly", "[backend][model][dtype]") {
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  auto file = qrun::SafetensorsFile::open(asset("models/tiny-qwen2/model.safetensors"));
  REQUIRE(file.ok());
  const at::Tensor stored = *file->load("model.layers.1.self_attn.v_proj.weight");
  CHECK(model->linear("model.layers.1.self_attn.v_proj").weight(at::kFloat).equal(stored.to(at::kFloat)));
}

TEST_CASE("float16 on a CPU keeps float16 weights and states the compute dtype", "[backend][model][dtype]") {
  auto model = load_model(asset("models/stories260K"), "float16");
  CHECK(model->storage_dtype() == qrun::DType::f16);
#if TORCH_VERSION_MAJOR < 2
  CHECK(model->compute_dtype() == qrun::DType::f32);  // libtorch 1.x: no float16 matmul on CPU
#else
  CHECK(model->compute_dtype() == qrun::DType::f16);
#endif
  const auto state = model->linear("model.layers.0.mlp.up_proj").state();
  CHECK(state.front().second.scalar_type() == at::kHalf);
  auto out = model->generate({{1}}, qrun::GenerationConfig{});
  REQUIRE(out.ok());
  CHECK_FALSE(out->front().tokens.empty());
}

TEST_CASE("model_storage counts parameters at their element size", "[backend][model][storage]") {
  auto file = qrun::SafetensorsFile::open(asset("models/tiny-qwen2/model.safetensors"));
  REQUIRE(file.ok());
  std::int64_t numel = 0;
  for (const auto& e : file->entries()) {
    std::int64_t n = 1;
    for (auto d : e.shape) n *= d;
    numel += n;
  }
  auto f32 = load_model(asset("models/tiny-qwen2"), "float32");
  const auto s32 = qrun::model_storage(*f32);
  CHECK(s32.parameters == numel);
  CHECK(s32.hf_footprint_bytes == numel * 4);
  CHECK(s32.total_bytes == numel * 4);
  CHECK(s32.quantized_linear_bytes == 0);
  auto bf16 = load_model(asset("models/tiny-qwen2"), "bfloat16");
  CHECK(qrun::model_storage(*bf16).hf_footprint_bytes == numel * 2);
}

TEST_CASE("the model source records each file's sha256", "[backend][model]") {
  auto model = load_model(asset("models/tiny-qwen2"));
  const auto& files = model->source().file_sha256;
  auto it = std::find_if(files.begin(), files.end(), [](const auto& f) { return f.first == "model.safetensors"; });
  REQUIRE(it != files.end());
  // shared/models/README.md's table.
  CHECK(it->second == "714394e6cb79aa13bceba606155224c6520169a86c4965d7ad0c821601e643d2");
}
