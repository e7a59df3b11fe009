// The linear kind "gguf" (see gguf_linear.hpp).
#include "gguf_linear.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

namespace qrun::gguf {
namespace {

// Bits of one weight code, scales excluded.
int code_bits(GgmlType t) {
  switch (t) {
    case GgmlType::q2_K: return 2;
    case GgmlType::q3_K: return 3;
    case GgmlType::q5_0: case GgmlType::q5_1: case GgmlType::q5_K: return 5;
    case GgmlType::q6_K: return 6;
    case GgmlType::q8_0: return 8;
    case GgmlType::f16: case GgmlType::bf16: return 16;
    case GgmlType::f32: return 32;
    default: return 4;
  }
}

class GgufLinear final : public LinearImpl {
 public:
  // blocks: U8 [out * row_size] on the CPU; w: the dequantized weight in the compute dtype on the layer's device.
  GgufLinear(GgmlType type, at::Tensor blocks, at::Tensor w, at::Tensor bias, bool imatrix, c10::ScalarType compute)
      : type_(type), blocks_(std::move(blocks)), w_(std::move(w)), b_(std::move(bias)), imatrix_(imatrix), compute_(compute) {}
  std::string kind() const override { return "gguf"; }
  std::int64_t in_features() const override { return w_.size(1); }
  std::int64_t out_features() const override { return w_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override { return w_.to(dt); }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, w_.to(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  StorageInfo storage() const override {
    std::int64_t bytes = blocks_.numel();
    if (b_.defined()) bytes += b_.numel() * static_cast<std::int64_t>(b_.element_size());
    return {bytes, bytes, code_bits(type_), type_name(type_)};
  }
  NamedTensors state() const override {
    NamedTensors t{{"weight", blocks_}};
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    return {{"type", type_name(type_)}, {"shape", {out_features(), in_features()}}, {"imatrix", imatrix_},
            {"ggml_commit", kGgmlCommit}};
  }
  std::shared_ptr<LinearImpl> clone_to(c10::Device d) const override {
    return std::make_shared<GgufLinear>(type_, blocks_.clone(), w_.to(d, false, true),
                                        b_.defined() ? b_.to(d, false, true) : b_, imatrix_, compute_);
  }

 private:
  GgmlType type_;
  at::Tensor blocks_, w_, b_;
  bool imatrix_;
  c10::ScalarType compute_;
};

}  // namespace

at::Tensor dequantize_blocks(GgmlType type, const at::Tensor& blocks, std::int64_t rows, std::int64_t cols) {
  at::Tensor w = at::empty({rows, cols}, at::kFloat);
  const auto rs = static_cast<std::int64_t>(row_size(type, cols));
  const auto* src = blocks.data_ptr<std::uint8_t>();
  float* dst = w.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](std::int64_t r0, std::int64_t r1) {
    dequantize_values(type, src + r0 * rs, dst + r0 * cols, (r1 - r0) * cols);
  });
  return w;
}

at::Tensor quantize_matrix(GgmlType type, const at::Tensor& x, const at::Tensor& imatrix) {
  const std::int64_t rows = x.size(0), cols = x.size(1);
  const auto rs = static_cast<std::int64_t>(row_size(type, cols));
  at::Tensor blocks = at::empty({rows * rs}, at::kByte);
  const float* src = x.data_ptr<float>();
  const float* imp = imatrix.defined() ? imatrix.data_ptr<float>() : nullptr;
  std::uint8_t* dst = blocks.data_ptr<std::uint8_t>();
  // Rows are independent in every ggml type, so chunks of rows give the bytes of one whole call.
  at::parallel_for(0, rows, 8, [&](std::int64_t r0, std::int64_t r1) {
    (void)quantize_rows(type, src + r0 * cols, dst + r0 * rs, r1 - r0, cols, imp);
  });
  return blocks;
}

std::shared_ptr<LinearImpl> make_gguf_linear(GgmlType type, at::Tensor blocks, std::int64_t out, std::int64_t in,
                                             at::Tensor bias, bool imatrix, c10::Device device, c10::ScalarType compute) {
  at::Tensor w = dequantize_blocks(type, blocks, out, in).to(device).to(compute);
  return std::make_shared<GgufLinear>(type, std::move(blocks), std::move(w),
                                      bias.defined() ? bias.to(device) : bias, imatrix, compute);
}

Result<std::shared_ptr<LinearImpl>> load_gguf_linear(const LinearState& st) {
  auto bad = [&](const std::string& why) {
    return Error{st.name, "gguf layer: " + why, "rewrite the checkpoint with qrun quantize", ErrorCode::corrupt_input};
  };
  const auto type = parse_type(st.metadata.value("type", std::string()));
  if (!type || !traits(*type).implemented) return bad("unknown or unsupported ggml type in the metadata");
  const auto shape = st.metadata.value("shape", std::vector<std::int64_t>{});
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0 || shape[1] % traits(*type).block_size != 0)
    return bad("shape missing or not whole blocks");
  auto blocks = st.get("weight");
  if (!blocks) return blocks.error();
  const auto expected = static_cast<std::int64_t>(row_size(*type, shape[1])) * shape[0];
  if (blocks->scalar_type() != at::kByte || blocks->dim() != 1 || blocks->numel() != expected)
    return bad("\"weight\" must be U8 [" + std::to_string(expected) + "] for " + type_name(*type) + " " +
               std::to_string(shape[0]) + "x" + std::to_string(shape[1]));
  return make_gguf_linear(*type, blocks->to(at::kCPU).contiguous(), shape[0], shape[1], st.find("bias"),
                          st.metadata.value("imatrix", false), st.device, st.compute);
}

}  // namespace qrun::gguf
