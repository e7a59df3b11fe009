// Double quant of 4-bit block scales: exact code round trip, reconstruction bound, the mean.
#include <qrun/quant/double_quant.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <algorithm>

using namespace qrun::quant;

namespace {
at::Tensor some_absmax(std::int64_t n) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  return at::rand({n}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.2 + 0.01;  // like block absmax of weights
}
}  // namespace

TEST_CASE("double-quant codes survive dequantize then requantize with the same scale", "[quant][double_quant]") {
  at::Tensor absmax = some_absmax(700);  // 3 nested blocks, the last partial
  DoubleQuantAbsmax dq = double_quantize_absmax(absmax);
  REQUIRE(dq.nested.codes.numel() == 700);
  REQUIRE(dq.nested.absmax.numel() == 3);
  at::Tensor centred = dequantize_blockwise_8bit(dq.nested, dynamic_map_signed()).contiguous();
  at::Tensor codes = dq.nested.codes.contiguous(), scale = dq.nested.absmax.contiguous();
  const auto& m = dynamic_map_signed();
  for (std::int64_t i = 0; i < 700; ++i) {
    // code * absmax2 * (1 / absmax2) is the code value to within an ulp: far from any midpoint
    const float x = centred.data_ptr<float>()[i] * (1.0f / scale.data_ptr<float>()[i / 256]);
    REQUIRE(quantize_dynamic_value(m, x) == codes.data_ptr<std::uint8_t>()[i]);
  }
}

TEST_CASE("double-quant absmax reconstruction error is within half a dynamic-map gap", "[quant][double_quant]") {
  at::Tensor absmax = some_absmax(1000);
  DoubleQuantAbsmax dq = double_quantize_absmax(absmax);
  REQUIRE(dq.offset == absmax.mean().item<float>());
  at::Tensor rec = double_dequantize_absmax(dq);
  const auto& m = dynamic_map_signed();
  float gap = 0;
  for (int i = 0; i < 255; ++i) gap = std::max(gap, m[i + 1] - m[i]);
  // |rec - a| <= absmax2 * gap / 2, plus float32 rounding of the product and the added mean
  at::Tensor scale = dq.nested.absmax.repeat_interleave(256).slice(0, 0, 1000);
  at::Tensor bound = scale * (gap / 2) + 1e-6;
  REQUIRE(((rec - absmax).abs() <= bound).all().item<bool>());
  // which is under 1 % of the largest block scale
  REQUIRE((rec - absmax).abs().max().item<float>() < 0.01f * absmax.max().item<float>());
}

TEST_CASE("equal block scales come back exactly through the mean", "[quant][double_quant]") {
  at::Tensor absmax = at::full({300}, 0.125f, at::TensorOptions().dtype(at::kFloat));
  DoubleQuantAbsmax dq = double_quantize_absmax(absmax);
  REQUIRE(dq.offset == 0.125f);
  REQUIRE(at::equal(dq.nested.absmax, at::zeros({2})));
  REQUIRE(at::equal(double_dequantize_absmax(dq), absmax));  // code value * 0 + mean
}

TEST_CASE("8-bit blockwise codes are the nearest map values for scaled inputs", "[quant][double_quant]") {
  at::Tensor x = at::linspace(-3.0, 2.0, 513, at::TensorOptions().dtype(at::kFloat));
  Blockwise8bit q = quantize_blockwise_8bit(x, dynamic_map_signed(), 256);
  at::Tensor back = dequantize_blockwise_8bit(q, dynamic_map_signed());
  const auto& m = dynamic_map_signed();
  float gap = 0;
  for (int i = 0; i < 255; ++i) gap = std::max(gap, m[i + 1] - m[i]);
  at::Tensor bound = q.absmax.repeat_interleave(256).slice(0, 0, 513) * (gap / 2) * 1.0001;
  REQUIRE(((back - x).abs() <= bound).all().item<bool>());
  REQUIRE(q.absmax[0].item<float>() == 3.0f);
}
