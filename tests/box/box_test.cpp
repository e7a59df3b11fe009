// Quantization boxes (qrun/quant/box.hpp) checked against the quantizers themselves: every float32
// value inside a box, ends included, leaves the whole tensor's quantization unchanged, and the next
// float32 beyond either end changes it (the element's code, or, where the end is the absmax limit,
// the block's/row's scale). Also codes read back from quantized layers and flip counts.
#include <qrun/context.hpp>
#include <qrun/quant/blockwise4.hpp>
#include <qrun/quant/box.hpp>
#include <qrun/quant/int8.hpp>
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace qrun;
using quant::BoxMethod;
using quant::QuantizerSpec;

namespace {

// Codes and scales as the quantizer computes them (int8_quantize_weight, quantize_4bit).
struct Quantization {
  at::Tensor codes, absmax;
};

Quantization quantize(const at::Tensor& w, const QuantizerSpec& q) {
  if (q.method == BoxMethod::int8) {
    auto r = quant::int8_quantize_weight(w, "w");
    if (!r) FAIL(r.error().message());
    return {r->codes, r->absmax};
  }
  auto p = quant::quantize_4bit(w, q.method == BoxMethod::nf4 ? quant::FourBit::nf4 : quant::FourBit::fp4, q.blocksize, "w");
  if (!p) FAIL(p.error().message());
  return {quant::unpack_4bit(p->packed, p->numel()), p->absmax};
}

bool same_quantization(const Quantization& a, const Quantization& b) {
  return at::equal(a.codes.reshape({-1}), b.codes.reshape({-1})) && at::equal(a.absmax, b.absmax);
}

// A random weight [6, 96] (N(0, 0.02) as initialised LLM weights) with an all-zero first row, so
// that int8 has a zero row and 4-bit (blocksize 64) a zero block and a half-zero block.
at::Tensor random_weight(std::uint64_t seed) {
  at::Generator g = make_default_context(seed, c10::Device(c10::kCPU))->generator(seed);
  at::Tensor w = at::randn({6, 96}, g, at::TensorOptions().dtype(at::kFloat)) * 0.02;
  w[0].zero_();
  return w;
}

quant::Boxes boxes_of(const at::Tensor& w, const QuantizerSpec& q) {
  auto b = quant::quantization_boxes(w, q, "w");
  if (!b) FAIL(b.error().message());
  return std::move(*b);
}

at::Tensor with_value(const at::Tensor& w, std::int64_t i, float v) {
  at::Tensor c = w.clone();
  c.view({-1})[i] = v;
  return c;
}

void check_inside(const QuantizerSpec& q) {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(11);
  const quant::Boxes b = boxes_of(w, q);
  const Quantization ref = quantize(w, q);
  REQUIRE(at::equal(b.codes.reshape({-1}), ref.codes.reshape({-1})));
  at::Generator g = make_default_context(5, c10::Device(c10::kCPU))->generator(5);
  const at::Tensor u = at::rand({w.numel(), 2}, g, at::TensorOptions().dtype(at::kFloat));
  const float* wp = w.data_ptr<float>();
  const float* lo = b.lo.data_ptr<float>();
  const float* hi = b.hi.data_ptr<float>();
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    INFO("element " << i << " w " << wp[i] << " box [" << lo[i] << ", " << hi[i] << "]");
    REQUIRE(lo[i] <= wp[i]);
    REQUIRE(wp[i] <= hi[i]);
    std::vector<float> values = {lo[i], hi[i], lo[i] + 0.5f * (hi[i] - lo[i])};
    for (int k = 0; k < 2; ++k) values.push_back(lo[i] + u[i][k].item<float>() * (hi[i] - lo[i]));
    for (float v : values) {
      if (v < lo[i] || v > hi[i]) continue;  // a float32 rounding of the sample left the box
      INFO("value " << v);
      REQUIRE(same_quantization(quantize(with_value(w, i, v), q), ref));
    }
  }
}

void check_outside(const QuantizerSpec& q) {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(12);
  const quant::Boxes b = boxes_of(w, q);
  const Quantization ref = quantize(w, q);
  const float* lo = b.lo.data_ptr<float>();
  const float* hi = b.hi.data_ptr<float>();
  std::int64_t code_changes = 0, scale_changes = 0;
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    for (float v : {std::nextafter(hi[i], std::numeric_limits<float>::infinity()),
                    std::nextafter(lo[i], -std::numeric_limits<float>::infinity())}) {
      INFO("element " << i << " box [" << lo[i] << ", " << hi[i] << "] value " << v);
      const Quantization got = quantize(with_value(w, i, v), q);
      const bool code_changed = got.codes.reshape({-1})[i].item<std::int64_t>() != ref.codes.reshape({-1})[i].item<std::int64_t>();
      const bool scale_changed = !at::equal(got.absmax, ref.absmax);
      REQUIRE((code_changed || scale_changed));
      code_changes += code_changed && !scale_changed;
      scale_changes += scale_changed;
    }
  }
  // Both kinds of end occur: code boundaries inside the range and the absmax limit.
  CHECK(code_changes > w.numel());
  CHECK(scale_changes > 0);
}

}  // namespace

TEST_CASE("every value inside an int8 box keeps the tensor's LLM.int8 quantization", "[box][int8]") {
  check_inside({BoxMethod::int8});
}

TEST_CASE("the next float beyond either end of an int8 box changes the quantization", "[box][int8]") {
  check_outside({BoxMethod::int8});
}

TEST_CASE("every value inside an nf4 box keeps the tensor's NF4 quantization", "[box][nf4]") {
  check_inside({BoxMethod::nf4, 64});
}

TEST_CASE("the next float beyond either end of an nf4 box changes the quantization", "[box][nf4]") {
  check_outside({BoxMethod::nf4, 64});
}

TEST_CASE("every value inside an fp4 box keeps the tensor's FP4 quantization", "[box][fp4]") {
  check_inside({BoxMethod::fp4, 64});
}

TEST_CASE("the next float beyond either end of an fp4 box changes the quantization", "[box][fp4]") {
  check_outside({BoxMethod::fp4, 64});
}

TEST_CASE("one element per block or row is held as its absmax, with a box of one quantizer input", "[box]") {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(13);
  const quant::Boxes nf4 = boxes_of(w, {BoxMethod::nf4, 64});
  CHECK(nf4.held.sum().item<std::int64_t>() == w.numel() / 64);  // 576 weights, 9 blocks
  CHECK(at::equal(nf4.lo.index({nf4.held}), w.index({nf4.held})));  // 4-bit reads float32: exactly the value
  CHECK(at::equal(nf4.hi.index({nf4.held}), w.index({nf4.held})));
  const quant::Boxes int8 = boxes_of(w, {BoxMethod::int8});
  CHECK(int8.held.sum().item<std::int64_t>() == w.size(0));  // one per row
  // int8 reads the float16 cast: the held box is the float32 values rounding to the same float16.
  CHECK(at::equal(int8.lo.index({int8.held}).to(at::kHalf), w.index({int8.held}).to(at::kHalf)));
  CHECK(at::equal(int8.hi.index({int8.held}).to(at::kHalf), w.index({int8.held}).to(at::kHalf)));
}

TEST_CASE("an nf4 box is about one code-book gap times the block absmax wide", "[box][nf4]") {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(14);
  const quant::Boxes b = boxes_of(w, {BoxMethod::nf4, 64});
  const auto& book = quant::nf4_code_book();
  const at::Tensor codes = b.codes.reshape({-1});
  for (std::int64_t i = 96; i < w.numel(); ++i) {  // past the zero row
    const auto c = static_cast<std::size_t>(codes[i].item<std::int64_t>());
    if (b.held.view({-1})[i].item<bool>() || c == 0 || c == 15) continue;  // ends clipped at ±absmax
    // interior code c: box = (t_{c-1}, t_c] × absmax with t the midpoints of neighbouring codes
    const double expected = 0.5 * (book[c + 1] - book[c - 1]) * b.absmax.view({-1})[i].item<double>();
    const double width = b.hi.view({-1})[i].item<double>() - b.lo.view({-1})[i].item<double>();
    // 1e-5 relative: the float32 grid of the ends (ulp ~ 6e-8 relative) plus float32 thresholds.
    CHECK_THAT(width, Catch::Matchers::WithinRel(expected, 1e-5));
  }
}

TEST_CASE("codes read from quantized layers equal the quantizer's codes of the dense weight", "[box][codes]") {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(15);
  auto i8 = quant::make_int8_linear(w, at::Tensor(), 6.0, at::kFloat, "l");
  REQUIRE(i8.ok());
  auto c8 = quant::layer_codes(**i8, "l");
  REQUIRE(c8.ok());
  REQUIRE(c8->has_value());
  CHECK((*c8)->spec == QuantizerSpec{BoxMethod::int8});
  CHECK(at::equal((*c8)->codes, *quant::weight_codes(w, {BoxMethod::int8}, "w")));
  for (auto type : {quant::FourBit::nf4, quant::FourBit::fp4}) {
    auto l4 = quant::make_4bit_linear(w, at::Tensor(), {type, 128, true}, at::kFloat, "l");
    REQUIRE(l4.ok());
    auto c4 = quant::layer_codes(**l4, "l");
    REQUIRE(c4.ok());
    REQUIRE(c4->has_value());
    const QuantizerSpec spec{type == quant::FourBit::nf4 ? BoxMethod::nf4 : BoxMethod::fp4, 128};
    CHECK((*c4)->spec == spec);
    CHECK(at::equal((*c4)->codes, *quant::weight_codes(w, spec, "w")));
  }
  auto dense = quant::layer_codes(*make_dense_linear(w, at::Tensor(), at::kFloat), "l");
  REQUIRE(dense.ok());
  CHECK_FALSE(dense->has_value());
}

TEST_CASE("the flip count of a weight against itself is zero", "[box][flip]") {
  c10::InferenceMode guard;
  const at::Tensor w = random_weight(16);
  for (QuantizerSpec q : {QuantizerSpec{BoxMethod::int8}, QuantizerSpec{BoxMethod::nf4, 64}, QuantizerSpec{BoxMethod::fp4, 64}}) {
    auto f = quant::flip_count(w, w.clone(), q, "w");
    REQUIRE(f.ok());
    CHECK(f->flipped == 0);
    CHECK(f->n == w.numel());
  }
}

TEST_CASE("the flip rate grows with the std of added Gaussian noise", "[box][flip]") {
  c10::InferenceMode guard;
  at::Generator g = make_default_context(17, c10::Device(c10::kCPU))->generator(17);
  const at::Tensor w = at::randn({64, 256}, g, at::TensorOptions().dtype(at::kFloat)) * 0.02;
  const at::Tensor z = at::randn({64, 256}, g, at::TensorOptions().dtype(at::kFloat));
  for (QuantizerSpec q : {QuantizerSpec{BoxMethod::int8}, QuantizerSpec{BoxMethod::nf4, 64}, QuantizerSpec{BoxMethod::fp4, 64}}) {
    INFO(quant::describe(q));
    double previous = 0;
    // The same draws z scaled: each weight moves along one ray, so once out of its box it stays out.
    for (double std : {1e-5, 1e-4, 1e-3, 1e-2}) {
      auto f = quant::flip_count(w, w + z * std, q, "w");
      REQUIRE(f.ok());
      INFO("std " << std << " rate " << f->rate());
      CHECK(f->rate() >= previous);
      previous = f->rate();
    }
    CHECK(previous > 0.5);  // std 1e-2 is half the weights' std: most codes change
  }
}

TEST_CASE("flip counts refuse code tensors of different shapes", "[box][flip][errors]") {
  auto f = quant::count_flips(at::zeros({2, 3}, at::kByte), at::zeros({3, 2}, at::kByte), "layer");
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().thing == "layer");
}
