// The AWQ checkpoint format as AutoAWQ writes it for its GEMM kernels (casper-hansen/AutoAWQ
// awq/modules/linear/gemm.py WQLinear_GEMM.from_linear; transformers' AwqConfig version "gemm"),
// per layer:
//   qweight  int32 [in, out/8]: word k of input row c holds the 4-bit codes of outputs
//            8k + order[i] at bits 4i, order = [0, 2, 4, 6, 1, 3, 5, 7]
//   qzeros   int32 [in/group, out/8]: the zero points (no offset), packed the same way
//   scales   float16 [in/group, out]
//   bias     float16 [out] (optional)
// W[o, c] = (q[c, o] - zeros[c/group, o]) * scales[c/group, o].
// AutoAWQ's GEMM format is 4-bit only; qrun stores other widths (2, 3, 5-8) with the codes of 32
// consecutive outputs as one little-endian bitstream over `bits` words (GPTQ's packing, along the
// output dimension), recorded as packing "bitstream" in the metadata, and pads the output
// dimension to a multiple of 8 (4-bit) or 32 (others) with zero codes.
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>
#include <qrun/linear_kind.hpp>

#include <ATen/core/Tensor.h>

#include <memory>

namespace qrun::awq {

// codes [n, out] -> int32 [n, ceil(out/8)] in AutoAWQ's order (4-bit), and back.
at::Tensor pack_gemm(const at::Tensor& codes);
at::Tensor unpack_gemm(const at::Tensor& packed, std::int64_t out);

class AwqLinear final : public LinearImpl {
 public:
  AwqLinear(at::Tensor qweight, at::Tensor qzeros, at::Tensor scales, at::Tensor bias, int bits, std::int64_t out,
            std::int64_t in, c10::ScalarType compute);
  // codes [out, in], scales and zeros [out, groups] (zeros integers).
  static std::shared_ptr<AwqLinear> from_codes(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                                               const at::Tensor& bias, int bits, c10::ScalarType compute);

  std::string kind() const override { return "awq"; }
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return out_; }
  at::Tensor forward(const at::Tensor& x) const override;
  at::Tensor weight(c10::ScalarType dtype) const override;
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  StorageInfo storage() const override;
  NamedTensors state() const override;
  nlohmann::json metadata() const override;
  std::shared_ptr<LinearImpl> clone_to(c10::Device device) const override;

  at::Tensor codes() const;       // [in, out] int64
  at::Tensor zero_points() const; // [groups, out] int64

 private:
  at::Tensor unpack(const at::Tensor& packed) const;
  at::Tensor qw_, qz_, s_, b_;
  int bits_;
  std::int64_t out_, in_;
  c10::ScalarType compute_;
};

// qrun metadata when present; else a published GEMM checkpoint (4-bit, in = qweight rows).
Result<std::shared_ptr<LinearImpl>> load(const LinearState& state);
// qweight, qzeros, scales (and at most a bias), without GPTQ's g_idx.
bool recognizes(const std::vector<std::string>& suffixes);

}  // namespace qrun::awq
