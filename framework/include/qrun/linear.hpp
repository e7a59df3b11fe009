// Linear layers: y = x W^T + b. A Model holds one LinearImpl per projection; transforms read the
// weights and swap the implementation (quantized storage, custom forward). A quantized kind is
// registered by its plugin (qrun/linear_kind.hpp) so that checkpoints, the backend's fast paths
// and the size metrics work for it without the core knowing its name.
#pragma once

#include <qrun/dtype.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qrun {

// Bytes a layer really holds, plus what transformers' `get_memory_footprint()` would count for
// the same layer under its quantization library (parameters + buffers only; e.g. bitsandbytes'
// 4-bit quant_state tensors are not parameters, so they are not counted there).
struct StorageInfo {
  std::int64_t bytes = 0;               // everything the layer stores: codes, scales, zeros, bias, metadata
  std::int64_t hf_footprint_bytes = 0;
  int code_bits = 32;                   // bits of one stored weight code (1-8 packed, 16, 32), scales excluded
  std::string format = "float32";       // the weights' storage format: "float16", "nf4", "int3 asym g128", ...
  // Bits per weight including scales, zeros and metadata: 8 * bytes / (out * in).
  static double bits_per_weight(const StorageInfo& s, std::int64_t out, std::int64_t in) {
    return out * in > 0 ? 8.0 * static_cast<double>(s.bytes) / static_cast<double>(out * in) : 0.0;
  }
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class LinearImpl {
 public:
  virtual ~LinearImpl() = default;

  // The layer kind: "dense" for full precision, else the name of a registered linear kind
  // (qrun/linear_kind.hpp) that can rebuild the layer from state() and metadata().
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
  // dense layer; packed codes and quantization state for quantized ones.
  virtual NamedTensors state() const = 0;
  // What else the kind needs to rebuild the layer from state() (parameters such as bits or
  // group size), a JSON object; stored in the checkpoint's metadata next to the kind's name.
  virtual nlohmann::json metadata() const { return nlohmann::json::object(); }
  // A deep copy on `device` (used to build variants from the baseline).
  virtual std::shared_ptr<LinearImpl> clone_to(c10::Device device) const = 0;

  // --- Capabilities (the backend's fast paths ask; defaults are the safe answers) -------------
  // True when forward(x) is exactly at::linear(x, weight(x.dtype), bias()) with device ops only:
  // the backend may then merge sibling projections (q/k/v, gate/up) into one dense GEMM and
  // replay the layer inside a CUDA graph.
  virtual bool forward_is_dequantized_linear() const { return false; }
  // True when forward on `rows` rows (the product of x's leading dims) on this layer's device
  // makes no host synchronisation and no value-dependent allocation (safe to capture in a CUDA
  // graph). Layers whose forward_is_dequantized_linear() is true are graph-safe by definition.
  virtual bool graph_safe(std::int64_t rows) const { return forward_is_dequantized_linear() && rows >= 0; }
  // A layer computing [this; siblings...] (outputs concatenated in order) from one input, or
  // null when the kind cannot merge these layers. Called only when the backend cannot merge by
  // dequantized weights (some layer's forward_is_dequantized_linear() is false).
  virtual std::shared_ptr<LinearImpl> merge_with(const std::vector<const LinearImpl*>& siblings) const {
    (void)siblings;
    return nullptr;
  }
};

// The plain dense layer backends create: stores W (and b) in `storage` dtype and computes in
// `compute` dtype (W is cast once at construction when they differ).
std::shared_ptr<LinearImpl> make_dense_linear(at::Tensor weight, at::Tensor bias, c10::ScalarType compute);

}  // namespace qrun
