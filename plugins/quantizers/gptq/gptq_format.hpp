// The GPTQ checkpoint format as AutoGPTQ writes and reads it (AutoGPTQ/AutoGPTQ auto_gptq/
// nn_modules/qlinear/qlinear_cuda_old.py QuantLinear.pack and its torch forward), per layer:
//   qweight  int32 [ceil(in/32)*bits, out]: for each run of 32 input rows, the 32 codes of a
//            column as one little-endian bitstream of 32*bits bits over `bits` int32 words (code j
//            at stream bits [j*bits, (j+1)*bits); for 2/4/8 bits: word = sum code_j << bits*j; the
//            3-bit layout of pack() is the same stream)
//   qzeros   int32 [groups, ceil(out/32)*bits]: zero points packed the same way along the output
//            dimension; checkpoint_format "gptq" (v1) stores zero - 1 (AutoGPTQ's off-by-one: the
//            reader adds 1 and masks to `bits` bits, so a zero of 0 reads back through the wrap),
//            "gptq_v2" (GPTQModel) stores the zero itself
//   scales   float16 [groups, out]
//   g_idx    int32 [in]: the group of each input column (act_order permutes it)
//   bias     float16 [out] (optional)
// W[o, c] = scales[g_idx[c], o] * (q[c, o] - zeros[g_idx[c], o]).
// AutoGPTQ requires in and out to be multiples of 32; qrun pads the packed dimension with zero
// codes to the next multiple of 32 for other shapes (those checkpoints are qrun's own).
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>
#include <qrun/linear_kind.hpp>

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace qrun::gptq {

// codes [n, m] (integers in [0, 2^bits)) -> int32 [ceil(n/32)*bits, m], packed along dim 0.
at::Tensor pack_rows(const at::Tensor& codes, int bits);
// The inverse: int32 [ceil(n/32)*bits, m] -> int64 codes [n, m].
at::Tensor unpack_rows(const at::Tensor& packed, int bits, std::int64_t n);

struct GptqFormat {
  int bits = 4;
  std::int64_t group_size = -1;   // as configured (-1: one group); for the report and metadata
  bool sym = true;
  bool desc_act = false;
  bool v2 = false;                // checkpoint_format "gptq_v2": zeros stored without the -1
};

class GptqLinear final : public LinearImpl {
 public:
  GptqLinear(at::Tensor qweight, at::Tensor qzeros, at::Tensor scales, at::Tensor g_idx, at::Tensor bias, GptqFormat f,
             std::int64_t out, std::int64_t in, c10::ScalarType compute);
  // From integer codes [out, in], scales [out, groups] (float), zeros [out, groups] (integers), g_idx [in].
  static std::shared_ptr<GptqLinear> from_codes(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                                                const at::Tensor& g_idx, const at::Tensor& bias, GptqFormat f,
                                                c10::ScalarType compute);

  std::string kind() const override { return "gptq"; }
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

  at::Tensor codes() const;        // [out, in] int64
  at::Tensor zero_points() const;  // [groups, out] int64, as the reader sees them

 private:
  at::Tensor qw_, qz_, s_, g_, b_;
  GptqFormat f_;
  std::int64_t out_, in_;
  c10::ScalarType compute_;
};

// The kind's loader: qrun metadata when present, else the shapes of a published checkpoint
// (bits from qzeros or qweight, in from g_idx, v1 zeros).
Result<std::shared_ptr<LinearImpl>> load(const LinearState& state);
// A layer of a checkpoint without qrun metadata is GPTQ's when it has qweight, qzeros, scales and
// g_idx (and at most a bias).
bool recognizes(const std::vector<std::string>& suffixes);

}  // namespace qrun::gptq
