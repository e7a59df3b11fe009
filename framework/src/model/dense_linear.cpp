// The dense linear layer backends create: y = x W^T + b (torch.nn.functional.linear), computed
// with at::linear exactly as transformers' nn.Linear does.
#include <qrun/linear.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace qrun {
namespace {

class DenseLinear final : public LinearImpl {
 public:
  // `weight`/`bias` arrive in the storage dtype; they are held in the compute dtype (cast once).
  // When the two differ (fp16 storage, fp32 compute on CPU) the cast is exact, so state() can
  // give back the storage-dtype tensors bit for bit.
  DenseLinear(at::Tensor weight, at::Tensor bias, c10::ScalarType storage, c10::ScalarType compute)
      : w_(std::move(weight)), b_(std::move(bias)), storage_(storage), compute_(compute) {}

  std::string kind() const override { return "dense"; }
  std::int64_t in_features() const override { return w_.size(1); }
  std::int64_t out_features() const override { return w_.size(0); }

  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, w_, b_); }
  at::Tensor weight(c10::ScalarType dtype) const override { return w_.to(dtype); }
  at::Tensor bias() const override { return b_; }

  // The layer as stored (the checkpoint's dtype): a float16 checkpoint computed in float32 on the
  // CPU is 16 bits per weight; the float32 copy is a compute cache, as an fp16 model upcast by
  // the runtime is still an fp16 model. transformers counts numel * element_size of W and b.
  StorageInfo storage() const override {
    StorageInfo s;
    const std::int64_t elem = static_cast<std::int64_t>(c10::elementSize(storage_));
    s.bytes = (w_.numel() + (b_.defined() ? b_.numel() : 0)) * elem;
    s.hf_footprint_bytes = s.bytes;
    s.code_bits = static_cast<int>(elem * 8);
    auto d = from_scalar_type(storage_);
    s.format = std::string(to_string(d ? *d : DType::f32));
    return s;
  }
  bool forward_is_dequantized_linear() const override { return true; }

  NamedTensors state() const override {
    NamedTensors out{{"weight", w_.to(storage_)}};
    if (b_.defined()) out.emplace_back("bias", b_.to(storage_));
    return out;
  }

  std::shared_ptr<LinearImpl> clone_to(c10::Device device) const override {
    return std::make_shared<DenseLinear>(w_.to(device, /*non_blocking=*/false, /*copy=*/true),
                                         b_.defined() ? b_.to(device, false, true) : at::Tensor(), storage_,
                                         compute_);
  }

 private:
  at::Tensor w_, b_;  // compute dtype, contiguous
  c10::ScalarType storage_, compute_;
};

}  // namespace

std::shared_ptr<LinearImpl> make_dense_linear(at::Tensor weight, at::Tensor bias, c10::ScalarType compute) {
  if (!weight.defined() || weight.dim() != 2)
    throw std::invalid_argument("make_dense_linear: weight must be a 2-D tensor [out, in]");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0)))
    throw std::invalid_argument("make_dense_linear: bias must be 1-D with out_features entries");
  const c10::ScalarType storage = weight.scalar_type();
  at::Tensor w = weight.to(compute).contiguous();
  at::Tensor b = bias.defined() ? bias.to(compute).contiguous() : at::Tensor();
  return std::make_shared<DenseLinear>(std::move(w), std::move(b), storage, compute);
}

}  // namespace qrun
