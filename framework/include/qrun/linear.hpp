// Linear layers: y = x W^T + b. A Model holds one LinearImpl per projection; transforms read the
// weights and swap the implementation (quantized storage, custom forward).
#pragma once

#include <qrun/dtype.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qrun {

// Bytes a layer really holds, plus what transformers' `get_memory_footprint()` would count for
// the same layer under bitsandbytes (parameters + buffers only; e.g. 4-bit quant_state tensors
// are not parameters, so they are not counted there).
struct StorageInfo {
  std::int64_t bytes = 0;
  std::int64_t hf_footprint_bytes = 0;
  DType dtype = DType::f32;  // the dtype the weight is stored in
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class LinearImpl {
 public:
  virtual ~LinearImpl() = default;

  // "dense", "int8", "nf4", "fp4", ... (recorded in results and checkpoints)
  virtual std::string kind() const = 0;
  virtual std::int64_t in_features() const = 0;
  virtual std::int64_t out_features() const = 0;

  // x: [..., in] in the model's compute dtype on the model's device -> [..., out], same dtype.
  virtual at::Tensor forward(const at::Tensor& x) const = 0;
  // The weight as the forward uses it, [out, in], in `dtype` (for quantized layers: dequantized).
  virtual at::Tensor weight(c10::ScalarType dtype) const = 0;
  // Bias [out] in the compute dtype, or an undefined tensor when the layer has none.
  virtual at::Tensor bias() const = 0;

  virtual StorageInfo storage() const = 0;
  // The tensors a checkpoint stores for this layer, by suffix: {"weight", W}, {"bias", b} for a
  // dense layer; packed codes and quantization state for quantized ones (names in the README).
  virtual NamedTensors state() const = 0;
  // A deep copy on `device` (used to build variants from the baseline).
  virtual std::shared_ptr<LinearImpl> clone_to(c10::Device device) const = 0;
};

// The plain dense layer backends create: stores W (and b) in `storage` dtype and computes in
// `compute` dtype (W is cast once at construction when they differ).
std::shared_ptr<LinearImpl> make_dense_linear(at::Tensor weight, at::Tensor bias, c10::ScalarType compute);

}  // namespace qrun
