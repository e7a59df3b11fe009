// Quantized layers: storage accounting on known shapes, state round trips, forward, errors.
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun;
using namespace qrun::quant;

namespace {
at::Tensor weight(std::int64_t out, std::int64_t in, std::uint64_t seed = 1) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn({out, in}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02;
}
std::shared_ptr<LinearImpl> ok(Result<std::shared_ptr<LinearImpl>> r) {
  REQUIRE(r.ok());
  return std::move(*r);
}
void require_same_state(const NamedTensors& a, const NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    REQUIRE(a[i].second.scalar_type() == b[i].second.scalar_type());
    REQUIRE(at::equal(a[i].second, b[i].second));
  }
}
}  // namespace

TEST_CASE("nf4 storage on a [128, 96] weight counts the packed bytes and the quant state", "[quant][storage]") {
  // n = 12288 -> 6144 packed bytes, 192 blocks of 64
  auto dq = ok(make_4bit_linear(weight(128, 96), {}, {FourBit::nf4, 64, true}, at::kFloat, "l"));
  // packed 6144 + nested codes 192 + nested absmax 1 x 4 + offset 4 + quant_map 64 + nested map 1024
  REQUIRE(dq->storage().bytes == 6144 + 192 + 4 + 4 + 64 + 1024);
  REQUIRE(dq->storage().hf_footprint_bytes == 6144);
  REQUIRE(dq->storage().code_bits == 4);
  REQUIRE(dq->storage().format == "nf4 (double-quantized absmax)");
  auto plain = ok(make_4bit_linear(weight(128, 96), at::zeros({128}), {FourBit::fp4, 64, false}, at::kFloat, "l"));
  // packed 6144 + absmax 192 x 4 + quant_map 64 + bias 512; hf: packed + bias
  REQUIRE(plain->storage().bytes == 6144 + 768 + 64 + 512);
  REQUIRE(plain->storage().hf_footprint_bytes == 6144 + 512);
  REQUIRE(plain->storage().code_bits == 4);
  REQUIRE(plain->storage().format == "fp4");
}

TEST_CASE("int8 storage counts CB, SCB and bias; the hf footprint leaves SCB out", "[quant][storage]") {
  auto l = ok(make_int8_linear(weight(128, 96), at::zeros({128}), 6.0, at::kFloat, "l"));
  REQUIRE(l->storage().bytes == 12288 + 512 + 512);
  REQUIRE(l->storage().hf_footprint_bytes == 12288 + 512);
  REQUIRE(l->storage().code_bits == 8);
  REQUIRE(l->storage().format == "int8");
}

TEST_CASE("quantized layers rebuild bit-identically from their state", "[quant][state]") {
  const at::Tensor w = weight(40, 80, 9);  // 3200 values: 50 blocks of 64
  const at::Tensor b = at::randn({40}) * 0.1;
  std::vector<std::shared_ptr<LinearImpl>> layers = {
      ok(make_4bit_linear(w, b, {FourBit::nf4, 64, true}, at::kFloat, "l")),
      ok(make_4bit_linear(w, {}, {FourBit::fp4, 128, false}, at::kFloat, "l")),
      ok(make_4bit_linear(w.to(at::kBFloat16), {}, {FourBit::nf4, 256, true}, at::kFloat, "l")),
      ok(make_int8_linear(w, b, 6.0, at::kFloat, "l"))};
  const at::Tensor x = at::randn({3, 80});
  for (const auto& l : layers) {
    CAPTURE(l->kind());
    std::vector<std::string> names;
    for (const auto& [n, t] : l->state()) names.push_back(n);
    REQUIRE(linear_kind_of_state(names) == l->kind());
    auto back = ok(make_linear_from_state(l->kind(), l->state(), at::kFloat, at::kCPU, "l"));
    require_same_state(l->state(), back->state());
    REQUIRE(at::equal(l->forward(x), back->forward(x)));
    REQUIRE(at::equal(l->weight(at::kFloat), back->weight(at::kFloat)));
  }
}

TEST_CASE("the nf4 forward is a linear with the dequantized weight", "[quant][nf4]") {
  const at::Tensor w = weight(24, 64, 4), b = at::randn({24});
  auto l = ok(make_4bit_linear(w, b, {FourBit::nf4, 64, true}, at::kFloat, "l"));
  const at::Tensor x = at::randn({2, 5, 64});
  REQUIRE(at::equal(l->forward(x), at::linear(x, l->weight(at::kFloat), b)));
  // and the dequantized weight is close to the original: NF4 keeps ~3 bits of each block
  REQUIRE((l->weight(at::kFloat) - w).abs().max().item<float>() < 0.2f * w.abs().max().item<float>());
}

TEST_CASE("a tampered code book in a checkpoint is refused naming the tensor", "[quant][state][errors]") {
  auto l = ok(make_4bit_linear(weight(8, 64), {}, {FourBit::nf4, 64, false}, at::kFloat, "model.layers.0.mlp.up_proj"));
  NamedTensors st = l->state();
  for (auto& [n, t] : st)
    if (n == "weight.quant_map") t = t.clone().mul_(1.01);
  auto r = make_linear_from_state("nf4", st, at::kFloat, at::kCPU, "model.layers.0.mlp.up_proj");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "model.layers.0.mlp.up_proj.weight.quant_map");
  REQUIRE_FALSE(r.error().fix.empty());
}

TEST_CASE("a checkpoint with a wrongly sized packed weight is refused", "[quant][state][errors]") {
  auto l = ok(make_int8_linear(weight(8, 64), {}, 6.0, at::kFloat, "l"));
  NamedTensors st = l->state();
  st[1].second = at::ones({7});  // SCB with 7 rows for an 8-row weight
  auto r = make_linear_from_state("int8", st, at::kFloat, at::kCPU, "l");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "l.SCB");
  auto u = make_linear_from_state("int4", st, at::kFloat, at::kCPU, "l");
  REQUIRE_FALSE(u.ok());
  REQUIRE(u.error().thing == "l");
}

TEST_CASE("quantizing a layer with a NaN weight names the layer's weight", "[quant][errors]") {
  at::Tensor w = weight(8, 64);
  w.index_put_({0, 0}, std::numeric_limits<float>::quiet_NaN());
  auto r = make_4bit_linear(w, {}, {}, at::kFloat, "model.layers.3.self_attn.k_proj");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "model.layers.3.self_attn.k_proj.weight");
  auto s = make_int8_linear(w, {}, 6.0, at::kFloat, "model.layers.3.self_attn.k_proj");
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.error().thing == "model.layers.3.self_attn.k_proj.weight");
}

TEST_CASE("a checkpoint's nested map is used when it matches bitsandbytes' within float rounding",
          "[quant][state][double_quant]") {
  auto l = ok(make_4bit_linear(weight(8, 64), {}, {FourBit::nf4, 64, true}, at::kFloat, "l"));
  NamedTensors st = l->state();
  for (auto& [n, t] : st)
    if (n == "weight.nested_quant_map") {
      t = t.clone();
      float* p = t.data_ptr<float>();
      p[200] = std::nextafter(p[200], 2.0f);  // another torch version's linspace may differ by an ulp
    }
  auto near = make_linear_from_state("nf4", st, at::kFloat, at::kCPU, "l");
  REQUIRE(near.ok());
  require_same_state(st, (*near)->state());  // the stored map is kept and used, as bitsandbytes does
  for (auto& [n, t] : st)
    if (n == "weight.nested_quant_map") t.data_ptr<float>()[200] *= 1.01f;
  auto far = make_linear_from_state("nf4", st, at::kFloat, at::kCPU, "l");
  REQUIRE_FALSE(far.ok());
  REQUIRE(far.error().thing == "l.weight.nested_quant_map");
}
