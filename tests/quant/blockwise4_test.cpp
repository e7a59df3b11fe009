// Blockwise 4-bit quantization: packing order, block absmax, hand-computed codes, errors.
#include <qrun/quant/blockwise4.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <algorithm>
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

TEST_CASE("4-bit packing puts the first element in the high nibble and pads odd counts", "[quant][nf4][packing]") {
  at::Tensor codes = at::tensor(std::vector<std::uint8_t>{0x1, 0x2, 0xA, 0xF, 0x3}, at::TensorOptions().dtype(at::kByte));
  at::Tensor packed = pack_4bit(codes);
  REQUIRE(packed.sizes().vec() == std::vector<std::int64_t>{3, 1});
  REQUIRE(as_ints(packed) == std::vector<int>{0x12, 0xAF, 0x30});
  REQUIRE(as_ints(unpack_4bit(packed, 5)) == std::vector<int>{0x1, 0x2, 0xA, 0xF, 0x3});
}

TEST_CASE("nf4 codes of a hand-made block match the decision tree by hand", "[quant][nf4]") {
  // absmax 2: normalised values -1, 0.5, 0, 1, -0.05, 0.25, 0.04, 0.0398
  at::Tensor w = f32({-2.0f, 1.0f, 0.0f, 2.0f, -0.1f, 0.5f, 0.08f, 0.0796f}, {1, 8});
  auto q = quantize_4bit(w, FourBit::nf4, 64, "w");
  REQUIRE(q.ok());
  REQUIRE(q->absmax.item<float>() == 2.0f);
  // -1 -> 0; 0.5 < 0.50166 -> 12; 0 -> 7; 1 -> 15; -0.05 < -0.04553 -> 6; 0.25 in (0.2035, 0.2920) -> 10;
  // 0.04 > 0.039790 -> 8; 0.0398 > 0.039790 -> 8
  REQUIRE(as_ints(unpack_4bit(q->packed, 8)) == std::vector<int>{0, 12, 7, 15, 6, 10, 8, 8});
}

TEST_CASE("fp4 codes of a hand-made block match the decision tree by hand", "[quant][fp4]") {
  // absmax 12: normalised 1, -8/12, 0.25, 1/12 (< 0.0859 -> 0.0625/12 code 1), -0.3 (0.29167..0.41667 -> 4/12)
  at::Tensor w = f32({12.0f, -8.0f, 3.0f, 1.0f, -3.6f, 0.0f}, {2, 3});
  auto q = quantize_4bit(w, FourBit::fp4, 64, "w");
  REQUIRE(q.ok());
  REQUIRE(as_ints(unpack_4bit(q->packed, 6)) == std::vector<int>{0b0011, 0b1010, 0b0111, 0b0001, 0b1100, 0b0000});
}

TEST_CASE("a partial last block gets its own absmax", "[quant][nf4]") {
  at::Tensor w = at::linspace(-1.0, 1.0, 70, at::TensorOptions().dtype(at::kFloat)).reshape({7, 10});
  w.index_put_({6, 9}, 3.0f);
  auto q = quantize_4bit(w, FourBit::nf4, 64, "w");
  REQUIRE(q.ok());
  REQUIRE(q->absmax.numel() == 2);
  REQUIRE(q->packed.sizes().vec() == std::vector<std::int64_t>{35, 1});
  REQUIRE(q->absmax[1].item<float>() == 3.0f);
  REQUIRE(q->absmax[0].item<float>() == w.reshape({-1}).slice(0, 0, 64).abs().max().item<float>());
}

TEST_CASE("dequantize is code book value times block absmax, cast once", "[quant][nf4]") {
  at::Tensor w = at::randn({16, 24}, at::TensorOptions().dtype(at::kFloat));
  for (FourBit t : {FourBit::nf4, FourBit::fp4}) {
    auto q = quantize_4bit(w, t, 64, "w");
    REQUIRE(q.ok());
    at::Tensor codes = unpack_4bit(q->packed, q->numel()).to(at::kLong);
    at::Tensor book = at::tensor(std::vector<float>(code_book(t).begin(), code_book(t).end()));
    at::Tensor expect = (book.index_select(0, codes) * q->absmax.repeat_interleave(64)).reshape({16, 24});
    REQUIRE(at::equal(dequantize_4bit(*q, at::kFloat), expect));
    // error bound: half the widest gap between neighbouring codes, times the block absmax
    float gap = 0;
    std::vector<float> sorted(code_book(t).begin(), code_book(t).end());
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 15; ++i) gap = std::max(gap, sorted[i + 1] - sorted[i]);
    at::Tensor err = (dequantize_4bit(*q, at::kFloat) - w).abs().reshape({-1});
    at::Tensor bound = q->absmax.repeat_interleave(64) * (gap / 2) * (1 + 1e-6);
    REQUIRE((err <= bound).all().item<bool>());
  }
}

TEST_CASE("an all-zero block dequantizes to zeros", "[quant][nf4]") {
  at::Tensor w = at::zeros({2, 64}, at::TensorOptions().dtype(at::kFloat));
  w.index_put_({1, 3}, 0.5f);
  auto q = quantize_4bit(w, FourBit::nf4, 64, "w");
  REQUIRE(q.ok());
  REQUIRE(q->absmax[0].item<float>() == 0.0f);
  // 0 * (1/0) is NaN on CUDA; dQuantizeNF4(NaN) is code 0 (-1.0), times absmax 0
  REQUIRE(as_ints(unpack_4bit(q->packed, 128).slice(0, 0, 64)) == std::vector<int>(64, 0));
  REQUIRE(at::equal(dequantize_4bit(*q, at::kFloat).select(0, 0).abs(), at::zeros({64})));
}

TEST_CASE("quantizing a NaN weight is refused naming the tensor", "[quant][nf4][errors]") {
  at::Tensor w = at::ones({4, 64}, at::TensorOptions().dtype(at::kFloat));
  w.index_put_({2, 5}, std::numeric_limits<float>::quiet_NaN());
  auto q = quantize_4bit(w, FourBit::nf4, 64, "model.layers.0.mlp.up_proj.weight");
  REQUIRE_FALSE(q.ok());
  REQUIRE(q.error().thing == "model.layers.0.mlp.up_proj.weight");
  REQUIRE(q.error().reason.find("133") != std::string::npos);  // flat index 2 * 64 + 5
  REQUIRE_FALSE(q.error().fix.empty());
}

TEST_CASE("block sizes bitsandbytes does not accept are refused", "[quant][nf4][errors]") {
  at::Tensor w = at::ones({4, 64}, at::TensorOptions().dtype(at::kFloat));
  for (std::int64_t bs : {0, 32, 100, 8192}) {
    auto q = quantize_4bit(w, FourBit::nf4, bs, "w");
    REQUIRE_FALSE(q.ok());
    REQUIRE(q.error().thing == "w blocksize");
  }
  REQUIRE(quantize_4bit(w, FourBit::nf4, 4096, "w").ok());
}

TEST_CASE("float16 and bfloat16 weights quantize from their exact float32 values", "[quant][nf4]") {
  at::Tensor w = at::randn({8, 64}, at::TensorOptions().dtype(at::kFloat));
  for (auto dt : {at::kHalf, at::kBFloat16}) {
    auto a = quantize_4bit(w.to(dt), FourBit::nf4, 64, "w");
    auto b = quantize_4bit(w.to(dt).to(at::kFloat), FourBit::nf4, 64, "w");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(at::equal(a->packed, b->packed));
    REQUIRE(at::equal(a->absmax, b->absmax));
    REQUIRE(a->dtype == dt);
  }
}
