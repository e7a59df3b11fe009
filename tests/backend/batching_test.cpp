// Padding: a sequence's logits do not depend on the other rows of its batch or on which side
// it is padded.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

// 1e-4 abs: the same float32 maths run as [2, T] instead of [1, t] GEMMs, which may change the
// summation order inside BLAS (observed differences are ~1e-6); a position or mask error moves
// logits by far more.
constexpr double kBatchTol = 1e-4;

std::vector<std::int64_t> golden_ids(std::int64_t from, std::int64_t n) {
  const at::Tensor ids = golden_tensor(asset("models/tiny-qwen2/golden/golden.safetensors"), "input_ids");
  const at::Tensor s = ids.slice(0, from, from + n).contiguous();
  return std::vector<std::int64_t>(s.data_ptr<std::int64_t>(), s.data_ptr<std::int64_t>() + n);
}

}  // namespace

TEST_CASE("a left-padded batch gives each sequence the logits it has alone", "[backend][padding]") {
  auto model = load_model(asset("models/tiny-qwen2"), "float32");
  const auto a = golden_ids(0, 12), b = golden_ids(40, 7);
  std::vector<std::int64_t> b_padded(12 - 7, 0);
  b_padded.insert(b_padded.end(), b.begin(), b.end());
  const at::Tensor ids = at::cat({row(a), row(b_padded)}, 0);
  at::Tensor mask = at::ones({2, 12}, at::kLong);
  mask[1].slice(0, 0, 5).fill_(0);
  const at::Tensor batch = model->logits(ids, mask);
  const at::Tensor alone_a = model->logits(row(a)).squeeze(0);
  const at::Tensor alone_b = model->logits(row(b)).squeeze(0);
  const double da = (batch[0] - alone_a).abs().max().item<double>();
  const double db = (batch[1].slice(0, 5) - alone_b).abs().max().item<double>();
  INFO("row 0 diff " << da << ", row 1 (left-padded) diff " << db);
  CHECK(da <= kBatchTol);
  CHECK(db <= kBatchTol);
}

TEST_CASE("a right-padded batch gives each sequence the logits it has alone", "[backend][padding]") {
  auto model = load_model(asset("models/stories260K"), "float32");
  const std::vector<std::int64_t> a = {1, 403, 407, 261, 378, 432, 383, 286}, b = {1, 403, 407};
  std::vector<std::int64_t> b_padded = b;
  b_padded.resize(a.size(), 0);
  at::Tensor mask = at::ones({2, 8}, at::kLong);
  mask[1].slice(0, 3).fill_(0);
  const at::Tensor batch = model->logits(at::cat({row(a), row(b_padded)}, 0), mask);
  const double db = (batch[1].slice(0, 0, 3) - model->logits(row(b)).squeeze(0)).abs().max().item<double>();
  const double da = (batch[0] - model->logits(row(a)).squeeze(0)).abs().max().item<double>();
  INFO("row 0 diff " << da << ", row 1 (right-padded) diff " << db);
  CHECK(da <= kBatchTol);
  CHECK(db <= kBatchTol);
}
