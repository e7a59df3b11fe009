// What the nf4 and fp4 plugins share: bitsandbytes' Linear4bit parameters, the transform that
// quantizes a model's selected layers, and the linear kind that rebuilds a stored layer
// (tensor names in qrun/quant/quant_linear.hpp). Each plugin is then one registration.
#pragma once

#include <qrun/plugin.hpp>
#include <qrun/quant/blockwise4.hpp>

#include <string>
#include <vector>

namespace qrun::quant {

struct FourBitParams {
  std::int64_t blocksize = kDefaultBlocksize4bit;
  bool double_quant = true;
  std::vector<std::string> include = {};
  std::vector<std::string> exclude = {"lm_head"};
};

Schema<FourBitParams> four_bit_schema();
Result<TransformReport> apply_four_bit(FourBit type, const FourBitParams& p, Model& model, RunContext& ctx);

// The transform and the linear kind of `type`, named "nf4" / "fp4".
Component four_bit_transform(FourBit type, std::string description);
Component four_bit_linear_kind(FourBit type);

}  // namespace qrun::quant
