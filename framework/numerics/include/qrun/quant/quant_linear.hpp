// Quantized linear layers: LLM.int8 (Int8Linear) and bitsandbytes 4-bit (FourBitLinear, kind
// "nf4" or "fp4"), holding their weights really packed, plus the factory that rebuilds them from
// checkpoint tensors. Tensor names (suffixes after the layer name) follow bitsandbytes'
// serialization (Linear8bitLt._save_to_state_dict, QuantState.as_dict(packed=True)):
//   int8: weight (int8 [out, in]), SCB (float32 [out]), int8_threshold (float32 [1], qrun's;
//         transformers reads llm_int8_threshold from config.json instead), bias
//   nf4/fp4: weight (uint8 [(n+1)/2, 1]), weight.absmax (float32 [blocks], or uint8 codes when
//         double-quantized), weight.quant_map (float32 [16]), weight.nested_absmax (float32),
//         weight.nested_quant_map (float32 [256]), weight.quant_state.bitsandbytes__<nf4|fp4>
//         (uint8 bytes of a JSON object: quant_type, blocksize, dtype, shape, and when nested
//         nested_blocksize, nested_offset), bias
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/quant/blockwise4.hpp>
#include <qrun/quant/double_quant.hpp>
#include <qrun/quant/int8.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace qrun::quant {

struct FourBitConfig {
  FourBit type = FourBit::nf4;
  std::int64_t blocksize = kDefaultBlocksize4bit;
  bool double_quant = true;  // bitsandbytes' compress_statistics / bnb_4bit_use_double_quant
};

// A 4-bit weight as stored: packed codes plus either float32 absmax or its double quantization.
struct FourBitWeight {
  Packed4bit q;                           // q.absmax is undefined when dq is set
  std::optional<DoubleQuantAbsmax> dq;
  at::Tensor absmax_f32() const;          // the per-block scale the kernels use (float32)
  at::Tensor dequantize(c10::ScalarType dtype) const;
};

class Int8Linear final : public LinearImpl {
 public:
  Int8Linear(Int8Rows weight, at::Tensor bias, double threshold, c10::ScalarType compute);
  std::string kind() const override { return "int8"; }
  std::int64_t in_features() const override { return cb_.size(1); }
  std::int64_t out_features() const override { return cb_.size(0); }
  at::Tensor forward(const at::Tensor& x) const override;  // int8_mixed_linear
  at::Tensor weight(c10::ScalarType dtype) const override;  // CB * SCB / 127
  at::Tensor bias() const override;
  // bytes: CB + SCB + bias. hf_footprint_bytes: CB + bias (SCB is an attribute of Int8Params,
  // neither a parameter nor a buffer, so get_memory_footprint() does not count it).
  StorageInfo storage() const override;
  NamedTensors state() const override;
  std::shared_ptr<LinearImpl> clone_to(c10::Device device) const override;
  // The fused few-row CUDA path (no outlier search on the host) is graph-safe; the general path is not.
  bool graph_safe(std::int64_t rows) const override;
  // Int8 siblings with the same threshold merge into one int8 layer (stacked rows).
  std::shared_ptr<LinearImpl> merge_with(const std::vector<const LinearImpl*>& siblings) const override;

  const at::Tensor& cb() const { return cb_; }    // int8 [out, in]
  const at::Tensor& scb() const { return scb_; }  // float32 [out]
  double threshold() const { return threshold_; }

 private:
  at::Tensor cb_, scb_, bias_;  // bias in its stored dtype
  double threshold_;
  c10::ScalarType compute_;
};

class FourBitLinear final : public LinearImpl {
 public:
  FourBitLinear(FourBitWeight w, at::Tensor bias, c10::ScalarType compute);
  std::string kind() const override { return std::string(to_string(w_.q.type)); }
  std::int64_t in_features() const override { return w_.q.shape[1]; }
  std::int64_t out_features() const override { return w_.q.shape[0]; }
  // Linear4bit/MatMul4Bit: linear(x, dequantize_4bit(W).to(compute), bias.to(compute)).
  // On CUDA the dequantized weight is computed once and kept (a speed cache of out x in
  // compute-dtype values, not counted in storage(): the results are the same bits as
  // dequantizing every call); on the CPU it is dequantized in every call.
  at::Tensor forward(const at::Tensor& x) const override;
  at::Tensor weight(c10::ScalarType dtype) const override;
  at::Tensor bias() const override;
  // bytes: packed + absmax (or nested codes + nested absmax + 4-byte offset) + quant_map (+
  // nested_quant_map) + bias: the tensors bitsandbytes' QuantState keeps per layer.
  // hf_footprint_bytes: packed uint8 weight + bias (quant_state tensors are not parameters).
  StorageInfo storage() const override;
  NamedTensors state() const override;
  std::shared_ptr<LinearImpl> clone_to(c10::Device device) const override;
  bool forward_is_dequantized_linear() const override { return true; }

  const FourBitWeight& weight_state() const { return w_; }

 private:
  FourBitWeight w_;
  at::Tensor bias_;  // stored dtype
  c10::ScalarType compute_;
  mutable std::mutex cache_mutex_;
  mutable at::Tensor cached_weight_, cached_bias_;  // CUDA only, see forward()
};

// Quantizes a dense weight [out, in] (and keeps its bias). `name` names the layer in errors.
Result<std::shared_ptr<LinearImpl>> make_int8_linear(const at::Tensor& weight, const at::Tensor& bias,
                                                     double threshold, c10::ScalarType compute,
                                                     const std::string& name);
Result<FourBitWeight> quantize_four_bit_weight(const at::Tensor& weight, const FourBitConfig& config,
                                               const std::string& name);
Result<std::shared_ptr<LinearImpl>> make_4bit_linear(const at::Tensor& weight, const at::Tensor& bias,
                                                     const FourBitConfig& config, c10::ScalarType compute,
                                                     const std::string& name);

// The registered kinds' loaders and recognisers (the int8, nf4 and fp4 plugins register them).
Result<std::shared_ptr<LinearImpl>> load_int8_linear(const LinearState& state);
Result<std::shared_ptr<LinearImpl>> load_4bit_linear(FourBit type, const LinearState& state);
bool recognizes_int8(const std::vector<std::string>& suffixes);                   // has "SCB"
bool recognizes_4bit(FourBit type, const std::vector<std::string>& suffixes);     // has its quant_state

// The kind a layer's checkpoint tensors describe (suffixes as above): "int8", "nf4", "fp4", or
// "dense" when none of the quantized markers (SCB, weight.quant_state.bitsandbytes__*) is present.
std::string linear_kind_of_state(const std::vector<std::string>& suffixes);

// Rebuilds a layer from its checkpoint tensors (as state() wrote them), on `device`, computing in
// `compute`. Checks every tensor's dtype and shape and the code books; errors name
// "<name>.<suffix>". kind "dense" gives make_dense_linear.
Result<std::shared_ptr<LinearImpl>> make_linear_from_state(const std::string& kind, const NamedTensors& state,
                                                           c10::ScalarType compute, c10::Device device,
                                                           const std::string& name = "linear");

}  // namespace qrun::quant
