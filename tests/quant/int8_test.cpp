// LLM.int8: vector-wise codes by hand, exact integer matmul, mixed decomposition vs a float reference.
#include <qrun/quant/int8.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <limits>
#include <vector>

using namespace qrun::quant;

namespace {
at::Tensor f32(const std::vector<float>& v, std::vector<std::int64_t> shape) {
  return at::tensor(v, at::TensorOptions().dtype(at::kFloat)).reshape(shape);
}
std::vector<int> as_ints(const at::Tensor& t) {
  at::Tensor c = t.reshape({-1}).to(at::kInt).contiguous();
  return std::vector<int>(c.data_ptr<int>(), c.data_ptr<int>() + c.numel());
}
}  // namespace

TEST_CASE("int8 weight codes and row scales match a hand computation", "[quant][int8]") {
  // row 0: absmax 4, scale 31.75: 1 -> 31.75 -> 32; -2 -> -63.5 -> -64 (half to even); 0.5 -> 15.875 -> 16
  // row 1: absmax 127, scale 1: 2.5 -> 2 and 3.5 -> 4 (half to even), -0.5 -> 0
  // row 2: float16 first: 0.3 -> 0.300048828125, 0.6 -> 0.60009765625 = absmax, 0.1 -> 0.0999755859375;
  //        scale = float(127 / 0.60009765625) = 211.63221740722656; 0.300048828125 * scale rounds to
  //        exactly 63.5 in float32 -> 64 (half to even); -127; 21.16 -> 21; 0
  at::Tensor w = f32({1.0f, -2.0f, 0.5f, 4.0f,  //
                      127.0f, 2.5f, 3.5f, -0.5f,  //
                      0.3f, -0.6f, 0.1f, 0.0f},
                     {3, 4});
  auto q = int8_quantize_weight(w, "w");
  REQUIRE(q.ok());
  REQUIRE(q->codes.scalar_type() == at::kChar);
  REQUIRE(as_ints(q->codes) == std::vector<int>{32, -64, 16, 127, 127, 2, 4, 0, 64, -127, 21, 0});
  REQUIRE(q->absmax[0].item<float>() == 4.0f);
  REQUIRE(q->absmax[1].item<float>() == 127.0f);
  REQUIRE(q->absmax[2].item<float>() == 0.60009765625f);
}

TEST_CASE("int8 dequantization is CB times SCB over 127", "[quant][int8]") {
  at::Tensor cb = at::tensor(std::vector<std::int8_t>{127, -64, 1, 0}, at::TensorOptions().dtype(at::kChar)).reshape({2, 2});
  at::Tensor scb = f32({2.0f, 0.5f}, {2});
  at::Tensor d = int8_vectorwise_dequant(cb, scb);
  const float k = kInt8DequantConst;
  REQUIRE(d[0][0].item<float>() == 127.0f * 2.0f * k);
  REQUIRE(d[0][1].item<float>() == -64.0f * 2.0f * k);
  REQUIRE(d[1][0].item<float>() == 1.0f * 0.5f * k);
  REQUIRE(d[1][1].item<float>() == 0.0f);
}

TEST_CASE("activation quantization zeroes outlier columns and leaves outliers out of the row absmax",
          "[quant][int8][outliers]") {
  at::Tensor a = f32({1.0f, 8.0f, 0.5f,  //
                      2.0f, 0.1f, -1.0f},
                     {2, 3}).to(at::kHalf);
  Int8Rows r = int8_vectorwise_quant(a, 6.0);
  REQUIRE(as_ints(r.outlier_cols) == std::vector<int>{1});
  REQUIRE(r.absmax[0].item<float>() == 1.0f);  // 8 is an outlier
  REQUIRE(r.absmax[1].item<float>() == 2.0f);  // 0.1 in the outlier column still counts
  REQUIRE(as_ints(r.codes) == std::vector<int>{127, 0, 64, 127, 0, -64});  // 63.5 -> 64, -63.5 -> -64
  Int8Rows plain = int8_vectorwise_quant(a, 0.0);
  REQUIRE(plain.outlier_cols.numel() == 0);
  REQUIRE(plain.absmax[0].item<float>() == 8.0f);
}

TEST_CASE("an all-zero row quantizes to zero codes", "[quant][int8]") {
  Int8Rows r = int8_vectorwise_quant(at::zeros({2, 5}, at::TensorOptions().dtype(at::kHalf)), 0.0);
  REQUIRE(as_ints(r.codes) == std::vector<int>(10, 0));
  REQUIRE(r.absmax[0].item<float>() == 0.0f);
}

TEST_CASE("int8 matmul is exact integer arithmetic", "[quant][int8]") {
  at::Generator gen = at::detail::createCPUGenerator(3);
  at::Tensor a = at::randint(-127, 128, {5, 4096}, gen, at::TensorOptions().dtype(at::kChar));
  at::Tensor b = at::randint(-127, 128, {7, 4096}, gen, at::TensorOptions().dtype(at::kChar));
  a.index_fill_(1, at::arange(0, 4096, 2), 127);  // large sums: 2048 * 127 * 127 per row pair and more
  b.index_fill_(1, at::arange(0, 4096, 2), 127);
  at::Tensor acc = int8_linear_matmul(a, b);
  REQUIRE(acc.scalar_type() == at::kInt);
  at::Tensor ref = at::mm(a.to(at::kLong), b.to(at::kLong).t());  // int64 CPU matmul, exact by construction
  REQUIRE(at::equal(acc.to(at::kLong), ref));
}

TEST_CASE("the mixed decomposition equals a float reference on an input with an outlier column",
          "[quant][int8][outliers]") {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::TensorOptions f = at::TensorOptions().dtype(at::kFloat);
  at::Tensor w = at::randn({16, 64}, gen, f) * 0.05;
  at::Tensor bias = at::randn({16}, gen, f) * 0.1;
  at::Tensor x = at::randn({6, 64}, gen, f);
  x.select(1, 3).fill_(20.0f);  // an outlier column, as LLM.int8 sees in large models
  auto q = int8_quantize_weight(w, "w");
  REQUIRE(q.ok());
  at::Tensor wd = int8_vectorwise_dequant(q->codes, q->absmax);  // the weight the int8 layer represents
  at::Tensor ref = at::addmm(bias.to(at::kDouble), x.to(at::kDouble), wd.to(at::kDouble).t());
  at::Tensor y = int8_mixed_linear(x, q->codes, q->absmax, bias, 6.0);
  // Tolerance, per output: activation rounding (<= half a step SCA/127 per input, times sum |W|) plus
  // float16 rounding of the int8 result (2^-11 relative) plus float32 noise.
  at::Tensor xin = x.clone();
  xin.select(1, 3).zero_();
  at::Tensor sca = xin.abs().amax(1).to(at::kDouble);
  // float16 rounding of the inputs adds 2^-11 of SCA per input; 1 % slack for SCA's own rounding
  at::Tensor act = (sca * (1.0 / 254 + 1.0 / 2048) * 1.01).view({-1, 1}) * wd.abs().sum(1).to(at::kDouble).view({1, -1});
  at::Tensor tol = act + ref.abs() * std::ldexp(1.0, -11) * 2 + 1e-5;
  REQUIRE(((y.to(at::kDouble) - ref).abs() <= tol).all().item<bool>());
  // Without the decomposition the outlier sets every row's scale and the error is far larger.
  at::Tensor y0 = int8_mixed_linear(x, q->codes, q->absmax, bias, 0.0);
  REQUIRE((y0.to(at::kDouble) - ref).abs().max().item<double>() > 3 * (y.to(at::kDouble) - ref).abs().max().item<double>());
}

TEST_CASE("int8 quantization refuses NaN, non-2-D and float16-overflowing weights", "[quant][int8][errors]") {
  at::Tensor w = at::ones({3, 4});
  w.index_put_({1, 1}, std::numeric_limits<float>::infinity());
  auto a = int8_quantize_weight(w, "model.layers.1.self_attn.o_proj.weight");
  REQUIRE_FALSE(a.ok());
  REQUIRE(a.error().thing == "model.layers.1.self_attn.o_proj.weight");
  REQUIRE_FALSE(a.error().fix.empty());
  auto b = int8_quantize_weight(at::ones({2, 3, 4}), "w3");
  REQUIRE_FALSE(b.ok());
  REQUIRE(b.error().thing == "w3");
  auto c = int8_quantize_weight(at::full({2, 2}, 70000.0f), "big");
  REQUIRE_FALSE(c.ok());
  REQUIRE(c.error().thing == "big");
}
