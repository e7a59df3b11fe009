// Swapping a model's dense linear layers for quantized ones: the loop every quantizer plugin
// shares (select layers, quantize each weight as stored, set it, account the bytes).
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>
#include <qrun/transform.hpp>

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace qrun::quant {

// Builds the quantized layer for `name` from its weight [out, in] (in the model's storage
// dtype, as bitsandbytes receives it) and bias (storage dtype, may be undefined).
using LayerQuantizer = std::function<Result<std::shared_ptr<LinearImpl>>(
    const std::string& name, const at::Tensor& weight, const at::Tensor& bias, c10::ScalarType compute)>;

struct QuantizeRequest {
  std::string method;                     // "int8", "nf4", "fp4" (for the report)
  std::vector<std::string> include;       // empty: every linear layer
  std::vector<std::string> exclude;       // e.g. {"lm_head"}
  std::string params_thing;               // e.g. "nf4" (errors on include/exclude name it)
  nlohmann::json params;                  // effective parameters, copied into the report
};

// Quantizes the selected dense layers in place. A selected layer that is not dense is an error
// (one quantizer per variant). The report's details: method, params, layers (names),
// layers_quantized, bytes_before/after and hf_footprint_before/after of those layers.
Result<TransformReport> quantize_model(Model& model, const QuantizeRequest& request, const LayerQuantizer& quantize,
                                       RunContext& ctx);

}  // namespace qrun::quant
