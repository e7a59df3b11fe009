// A Model made of nothing but named 2-D weight tensors (no tokenizer, no forward pass), so that a
// quantizer transform can be applied to the tensors of a plain safetensors file exactly as to a
// model's linear layers (`qrun quantize --tensors`). Every other Model operation is refused.
#pragma once

#include <qrun/model.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qrun {

// `weights`: name -> [out, in] floating tensor (CPU), each kept in its own dtype as a dense layer
// computing in float32.
std::unique_ptr<Model> make_tensor_model(const std::vector<std::pair<std::string, at::Tensor>>& weights,
                                         const std::string& source_name);

}  // namespace qrun
