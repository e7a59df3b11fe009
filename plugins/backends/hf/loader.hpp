// Checkpoint tensors -> HfModel: names and shapes checked against config.json, weights cast
// to the storage dtype and moved to the device.
#pragma once

#include "checkpoint.hpp"
#include "hf_config.hpp"
#include "hf_model.hpp"

#include <qrun/context.hpp>

#include <memory>

namespace qrun::hf {

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  DType storage = DType::f32;
  DType compute = DType::f32;
};

Result<std::unique_ptr<HfModel>> build_model(const HfConfig& config, const Checkpoint& checkpoint,
                                             std::shared_ptr<const Tokenizer> tokenizer, ModelSource source,
                                             const LoadOptions& options, RunContext& ctx);

}  // namespace qrun::hf
