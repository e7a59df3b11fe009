// The CUDA paths against the CPU ones. Hidden ([.]): they need a GPU and run on the GPU machine
// with `build-gpu/tests/backend/test_backend "[gpu]"`.
#include "backend/fixture.hpp"
#include "hf_model.hpp"
#include "support/assets.hpp"

#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>

using namespace qrun::test;

namespace {

using LayerMaker = std::function<std::shared_ptr<qrun::LinearImpl>(const std::string&, const qrun::LinearImpl&)>;

// Every linear layer replaced by `make` of itself (weights taken in float32 on their device).
void replace_linears(qrun::Model& m, const LayerMaker& make) {
  for (const auto& name : m.linear_names()) REQUIRE(m.set_linear(name, make(name, m.linear(name))).ok());
}

std::shared_ptr<qrun::LinearImpl> int8_layer(const std::string& name, const qrun::LinearImpl& l) {
  auto q = qrun::quant::make_int8_linear(l.weight(at::kFloat), l.bias(), 6.0, at::kFloat, name);
  if (!q) FAIL(q.error().message());
  return *q;
}

std::shared_ptr<qrun::LinearImpl> nf4_layer(const std::string& name, const qrun::LinearImpl& l) {
  qrun::quant::FourBitConfig c;
  auto q = qrun::quant::make_4bit_linear(l.weight(at::kFloat), l.bias(), c, at::kFloat, name);
  if (!q) FAIL(q.error().message());
  return *q;
}

at::Tensor wiki_ids(qrun::Model& m, std::int64_t n) {
  auto ids = m.tokenizer().encode("The tower is 324 metres tall, about the same height as an 81-storey building, and "
                                  "the tallest structure in Paris. Its base is square, measuring 125 metres on each side.",
                                  true);
  ids.resize(std::min<std::size_t>(ids.size(), static_cast<std::size_t>(n)));
  return row(ids);
}

}  // namespace

TEST_CASE("CUDA graph greedy decoding gives the tokens of the uncaptured static and dynamic loops",
          "[.][gpu][generate]") {
  auto model = load_model(asset("models/stories260K"), "float32", "cuda");
  auto& hf = dynamic_cast<qrun::hf::HfModel&>(*model);
  const std::vector<std::vector<std::int64_t>> prompts = {model->tokenizer().encode("Once upon a time", true),
                                                          model->tokenizer().encode("The little cat saw a big", true)};
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 50;
  auto graph = hf.generate_static(prompts, cfg, /*allow_graph=*/true);
  auto eager = hf.generate_static(prompts, cfg, false);
  auto cpu = load_model(asset("models/stories260K"), "float32")->generate(prompts, cfg);
  REQUIRE(graph.ok());
  REQUIRE(eager.ok());
  REQUIRE(cpu.ok());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    CHECK((*graph)[i].tokens == (*eager)[i].tokens);
    CHECK((*graph)[i].tokens == (*cpu)[i].tokens);
  }
}

// Tolerances: float32 on both sides; CUDA and CPU GEMMs sum in different orders (~1e-6
// relative). NF4 dequantizes to the same weights on both, so its logits differ by that much
// only. LLM.int8 re-quantizes activations: a float32 rounding difference can move one activation
// code by 1 (a step of absmax/127), so a few logits move by more; the mean stays small.
TEST_CASE("NF4 logits on CUDA equal the CPU path", "[.][gpu][quant]") {
  auto cpu = load_model(asset("models/tiny-qwen2"), "float32");
  auto gpu = load_model(asset("models/tiny-qwen2"), "float32", "cuda");
  replace_linears(*cpu, nf4_layer);
  replace_linears(*gpu, nf4_layer);
  at::Tensor ids = wiki_ids(*cpu, 64);
  at::Tensor a = cpu->logits(ids), b = gpu->logits(ids).cpu();
  CHECK((a - b).abs().max().item<double>() < 1e-3);
  CHECK(at::equal(a.argmax(-1), b.argmax(-1)));
}

TEST_CASE("LLM.int8 logits on CUDA equal the CPU path", "[.][gpu][quant]") {
  auto cpu = load_model(asset("models/tiny-qwen2"), "float32");
  auto gpu = load_model(asset("models/tiny-qwen2"), "float32", "cuda");
  replace_linears(*cpu, int8_layer);
  replace_linears(*gpu, int8_layer);
  at::Tensor ids = wiki_ids(*cpu, 64);
  at::Tensor a = cpu->logits(ids), b = gpu->logits(ids).cpu();
  CHECK((a - b).abs().mean().item<double>() < 1e-3);
  CHECK((a.argmax(-1) == b.argmax(-1)).to(at::kFloat).mean().item<double>() >= 0.95);
}

TEST_CASE("LLM.int8 activation quantization on CUDA gives the CPU codes and scales", "[.][gpu][quant]") {
  at::manual_seed(0);
  at::Tensor a = (at::randn({40, 256}) * 2).to(at::kHalf);  // some |a| >= 6: outlier columns
  auto cpu = qrun::quant::int8_vectorwise_quant(a, 6.0);
  auto gpu = qrun::quant::int8_vectorwise_quant(a.cuda(), 6.0);
  CHECK(at::equal(cpu.codes, gpu.codes.cpu()));
  CHECK(at::equal(cpu.absmax, gpu.absmax.cpu()));
  CHECK(at::equal(cpu.outlier_cols, gpu.outlier_cols.cpu()));
  at::Tensor b = at::randint(-127, 128, {64, 256}, at::kChar);
  at::Tensor small = cpu.codes.slice(0, 0, 3);  // fewer than 17 rows: the padded int8 GEMM
  CHECK(at::equal(qrun::quant::int8_linear_matmul(small, b), qrun::quant::int8_linear_matmul(small.cuda(), b.cuda()).cpu()));
  CHECK(at::equal(qrun::quant::int8_linear_matmul(cpu.codes, b),
                  qrun::quant::int8_linear_matmul(cpu.codes.cuda(), b.cuda()).cpu()));
}

TEST_CASE("LLM.int8 on up to 128 CUDA rows (the fused decode path) equals the CPU forward", "[.][gpu][quant]") {
  at::manual_seed(1);
  at::Tensor w = at::randn({96, 128}) * 0.05;
  at::Tensor bias = at::randn({96}).to(at::kHalf);
  auto layer = qrun::quant::make_int8_linear(w.to(at::kHalf), bias, 6.0, at::kHalf, "w");
  REQUIRE(layer.ok());
  auto gpu_layer = (*layer)->clone_to(c10::Device(c10::kCUDA));
  for (std::int64_t rows : {5, 40}) {  // one-block quantization (<= 16 rows) and one block per row
    INFO("rows " << rows);
    // No activation reaches the threshold: integer sums and one rounding, the same bits.
    at::Tensor x = (at::randn({rows, 128}) * 0.5).to(at::kHalf);
    CHECK(at::equal((*layer)->forward(x), gpu_layer->forward(x.cuda()).cpu()));
    // Two outlier columns: their float16 products are summed in another order (tolerance: a few
    // float16 ulps of the output).
    x.select(1, 3).fill_(8.0);
    x.select(1, 77).fill_(-7.5);
    at::Tensor a = (*layer)->forward(x).to(at::kFloat), b = gpu_layer->forward(x.cuda()).cpu().to(at::kFloat);
    CHECK((a - b).abs().max().item<double>() <= 4e-3 * a.abs().max().item<double>());
  }
}

TEST_CASE("LLM.int8 greedy decoding replayed from a CUDA graph gives the uncaptured tokens", "[.][gpu][generate][quant]") {
  auto model = load_model(asset("models/tiny-qwen2"), "float16", "cuda");
  replace_linears(*model, [](const std::string& name, const qrun::LinearImpl& l) {
    auto q = qrun::quant::make_int8_linear(l.weight(at::kFloat), l.bias(), 6.0, at::kHalf, name);
    if (!q) FAIL(q.error().message());
    return *q;
  });
  auto& hf = dynamic_cast<qrun::hf::HfModel&>(*model);
  const std::vector<std::vector<std::int64_t>> prompts = {model->tokenizer().encode("Once upon a time", true)};
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 40;
  cfg.stop_token_ids = {0};
  auto graph = hf.generate_static(prompts, cfg, true);
  auto eager = hf.generate_static(prompts, cfg, false);
  REQUIRE(graph.ok());
  REQUIRE(eager.ok());
  CHECK(graph->front().tokens == eager->front().tokens);
}

TEST_CASE("sampled decoding replayed from a CUDA graph gives the uncaptured tokens for the same seed",
          "[.][gpu][generate][sampling]") {
  auto model = load_model(asset("models/stories260K"), "float32", "cuda");
  auto& hf = dynamic_cast<qrun::hf::HfModel&>(*model);
  const std::vector<std::vector<std::int64_t>> prompts = {model->tokenizer().encode("Once upon a time", true),
                                                          model->tokenizer().encode("The little cat saw a big", true)};
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 40;
  cfg.do_sample = true;
  cfg.temperature = 0.8;
  cfg.top_p = 0.9;
  cfg.seed = 3;
  auto graph = hf.generate_static(prompts, cfg, true);
  auto eager = hf.generate_static(prompts, cfg, false);
  REQUIRE(graph.ok());
  REQUIRE(eager.ok());
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK((*graph)[i].tokens == (*eager)[i].tokens);
}
