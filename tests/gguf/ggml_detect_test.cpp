// Recognising dequantized GGUF weights (plugins/quantizers/gguf/ggml_detect.hpp): ggml's
// to_float of every type's blocks (with and without an importance matrix) is recognised as that
// type's output, on Gaussian matrices and on the real weights of tiny-qwen2 and stories260K; the
// float weights of both models are recognised as no type (no false positive).
#include "support/assets.hpp"

#include <ggml_detect.hpp>
#include <ggml_types.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace qrun::gguf;

namespace {

std::vector<float> dequantized(GgmlType t, const std::vector<float>& x, std::int64_t rows, std::int64_t cols, const float* im) {
  std::vector<std::uint16_t> bytes((row_size(t, cols) * static_cast<std::size_t>(rows) + 1) / 2);
  quantize_rows(t, x.data(), bytes.data(), rows, cols, im);
  std::vector<float> y(x.size());
  dequantize_values(t, bytes.data(), y.data(), rows * cols);
  return y;
}

// The 2-D weights of a model whose rows are whole 32-value blocks, as float32 (from bf16/f16/f32);
// of a matrix with more than 128 rows (the embeddings), 128 rows evenly spaced.
struct Weight {
  std::string name;
  std::int64_t rows, cols;
  std::vector<float> values;
  Storage storage;
};
std::vector<Weight> model_weights(const std::string& model) {
  auto f = qrun::SafetensorsFile::open(qrun::test::asset("models/" + model + "/model.safetensors"));
  if (!f.ok()) FAIL(f.error().message());
  std::vector<Weight> out;
  for (const auto& e : f->entries()) {
    if (e.shape.size() != 2 || e.shape[1] % 32 != 0) continue;
    auto t = f->load(e.name);
    if (!t.ok()) FAIL(t.error().message());
    at::Tensor v = t->to(at::kFloat);
    if (v.size(0) > 128) v = v.index_select(0, at::linspace(0, static_cast<double>(v.size(0) - 1), 128).to(at::kLong));
    v = v.contiguous();
    const Storage s = t->scalar_type() == at::kBFloat16 ? Storage::bf16 : t->scalar_type() == at::kHalf ? Storage::f16 : Storage::f32;
    out.push_back({e.name, v.size(0), e.shape[1], std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel()), s});
  }
  if (out.empty()) FAIL(model << " has no weight with rows of whole 32-value blocks");
  return out;
}

}  // namespace

TEST_CASE("ggml detector: dequantized Gaussian weights are recognised for every type and path", "[gguf][detector]") {
  const std::int64_t rows = 4, cols = 512;
  std::mt19937 g(5);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols)), im(static_cast<std::size_t>(cols));
  for (float& v : x) v = nd(g);
  std::uniform_real_distribution<float> u(0.01f, 2.0f);
  for (float& v : im) v = u(g);
  for (GgmlType t : quantized_types())
    for (bool with_imatrix : {false, true}) {
      INFO(type_name(t) << (with_imatrix ? " with imatrix" : ""));
      const std::vector<float> y = dequantized(t, x, rows, cols, with_imatrix ? im.data() : nullptr);
      const TypeMatch own = match_type(t, y.data(), rows, cols);
      CHECK(own.blocks == rows * cols / traits(t).block_size);
      CHECK(own.rate() >= kDefaultMatchThreshold);
      const MatrixDetection d = detect_matrix(y.data(), rows, cols);
      REQUIRE(d.type.has_value());
      // The verdict is a type whose grid holds the weights: the type itself or one that nests it.
      CHECK(match_type(*d.type, y.data(), rows, cols).rate() >= own.rate());
      // The float weights themselves match no type.
      const MatrixDetection f = detect_matrix(x.data(), rows, cols);
      CHECK_FALSE(f.type.has_value());
      CHECK(f.rate == 0.0);
    }
}

TEST_CASE("ggml detector: no false positive on tiny-qwen2 and stories260K, their dequantized weights recognised",
          "[gguf][detector]") {
  for (const std::string model : {"tiny-qwen2", "stories260K"}) {
    INFO(model);
    for (const Weight& w : model_weights(model)) {
      INFO(w.name << " [" << w.rows << ", " << w.cols << "]");
      // As stored (bf16 / f32), compared in the stored dtype, and as float32.
      for (const Storage s : {w.storage, Storage::f32}) {
        const MatrixDetection f = detect_matrix(w.values.data(), w.rows, w.cols, 1, kDefaultMatchThreshold, s);
        CHECK_FALSE(f.type.has_value());
        CHECK(f.rate < 0.01);
      }
      for (GgmlType t : {GgmlType::q4_0, GgmlType::q5_1, GgmlType::q8_0, GgmlType::iq4_nl, GgmlType::mxfp4}) {
        INFO(type_name(t));
        const std::vector<float> y = dequantized(t, w.values, w.rows, w.cols, nullptr);
        const MatrixDetection d = detect_matrix(y.data(), w.rows, w.cols);
        REQUIRE(d.type.has_value());
        CHECK(match_type(t, y.data(), w.rows, w.cols).rate() >= kDefaultMatchThreshold);
      }
    }
  }
}

TEST_CASE("ggml detector: dequantized weights kept in float16 / bfloat16 are recognised in that dtype", "[gguf][detector]") {
  const std::int64_t rows = 8, cols = 512;
  std::mt19937 g(9);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = nd(g);
  const auto rounded = [](std::vector<float> v, at::ScalarType dt) {
    const at::Tensor t = at::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, at::kFloat).to(dt).to(at::kFloat).contiguous();
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  };
  for (const auto& [dt, storage] : {std::pair{at::kHalf, Storage::f16}, std::pair{at::kBFloat16, Storage::bf16}}) {
    INFO(c10::toString(dt));
    // Float weights rounded to the dtype: no type.
    const std::vector<float> fx = rounded(x, dt);
    CHECK_FALSE(detect_matrix(fx.data(), rows, cols, 1, kDefaultMatchThreshold, storage).type.has_value());
    for (GgmlType t : {GgmlType::q4_0, GgmlType::q5_1, GgmlType::q3_K, GgmlType::q4_K, GgmlType::q6_K, GgmlType::mxfp4}) {
      INFO(type_name(t));
      const std::vector<float> y = rounded(dequantized(t, x, rows, cols, nullptr), dt);
      CHECK(detect_matrix(y.data(), rows, cols, 1, kDefaultMatchThreshold, storage).type.has_value());
      // Compared as float32 the rounded values are mostly off the grid.
      CHECK(match_type(t, y.data(), rows, cols, 1, storage).rate() >= match_type(t, y.data(), rows, cols).rate());
    }
  }
}

TEST_CASE("ggml codes: within a sub-block, equal codes exactly where dequantized values are equal", "[gguf][detector]") {
  // An independent check of the unpacking against ggml's to_float: dequantize_row_* maps each
  // sub-block's codes through one increasing (or, with a negative scale, decreasing) function.
  const std::int64_t rows = 4, cols = 512;
  std::mt19937 g(3);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = nd(g);
  for (GgmlType t : quantized_types()) {
    INFO(type_name(t));
    std::vector<std::uint16_t> bytes((row_size(t, cols) * static_cast<std::size_t>(rows) + 1) / 2);
    quantize_rows(t, x.data(), bytes.data(), rows, cols, nullptr);
    std::vector<float> y(x.size());
    dequantize_values(t, bytes.data(), y.data(), rows * cols);
    std::vector<std::uint8_t> codes(x.size());
    unpack_codes(t, bytes.data(), rows * cols, codes.data());
    const int sub = t == GgmlType::q2_K || t == GgmlType::q3_K || t == GgmlType::q6_K ? 16 : 32;
    std::int64_t mismatches = 0, distinct_pairs = 0;
    for (std::size_t s0 = 0; s0 < x.size(); s0 += static_cast<std::size_t>(sub))
      for (int i = 0; i < sub; ++i)
        for (int j = i + 1; j < sub; ++j) {
          const bool same_code = codes[s0 + i] == codes[s0 + j], same_value = y[s0 + i] == y[s0 + j];
          mismatches += same_code != same_value;
          distinct_pairs += !same_code;
        }
    CHECK(mismatches == 0);
    CHECK(distinct_pairs > 0);
  }
}
