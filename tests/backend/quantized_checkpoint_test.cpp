// A checkpoint holding quantized layers (bitsandbytes tensor names, as `qrun quantize` writes
// them through LinearImpl::state()) loads back into the same layers with the same outputs.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <qrun/quant/quant_linear.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun::test;

TEST_CASE("a checkpoint with nf4 and int8 layers loads back with identical logits", "[backend][quantized]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  const auto names = model->linear_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& layer = model->linear(names[i]);
    const at::Tensor w = layer.weight(at::kFloat), b = layer.bias();
    auto q = i % 2 == 0 ? qrun::quant::make_4bit_linear(w, b, qrun::quant::FourBitConfig{}, at::kFloat, names[i])
                        : qrun::quant::make_int8_linear(w, b, 6.0, at::kFloat, names[i]);
    REQUIRE(q.ok());
    REQUIRE(model->set_linear(names[i], *q).ok());
  }
  // Write the folder: every layer's state() under its name, then the other tensors.
  const auto dir = temp_dir("quantized_checkpoint");
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(asset("models/stories260K") / f, dir / f);
  qrun::NamedTensors tensors;
  for (const auto& name : names)
    for (const auto& [suffix, t] : model->linear(name).state()) tensors.emplace_back(name + "." + suffix, t);
  for (const auto& [name, t] : model->other_tensors()) tensors.emplace_back(name, t);
  REQUIRE(qrun::write_safetensors(dir / "model.safetensors", tensors).ok());

  auto loaded = load_model(dir, "float32");
  CHECK(loaded->linear(names[0]).kind() == "nf4");
  CHECK(loaded->linear(names[1]).kind() == "int8");
  const at::Tensor ids = row({1, 403, 407, 261, 378, 432});
  // Same codes, same scales, same kernels: bit-identical.
  CHECK(loaded->logits(ids).equal(model->logits(ids)));
  CHECK(qrun::model_storage(*loaded).quantized_linear_bytes == qrun::model_storage(*model).quantized_linear_bytes);
}
