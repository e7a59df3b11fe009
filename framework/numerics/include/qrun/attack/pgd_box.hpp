// The constraint step of the quantization-conditioned attack (Egashira et al. 2024, sec. 3.2; code
// eth-sri/llm-quantization-attack q_attack/repair/train.py compute_pgd_box): for every layer a
// target quantizer quantizes, the box of each weight (qrun/quant/box.hpp), intersected over the
// targets; and the check that a repaired model quantizes to the same codes.
#pragma once

#include <qrun/attack/train.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>
#include <qrun/quant/box.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qrun::attack {

// The codes of every quantized (non-dense) linear layer of a model a quantizer was applied to.
using ModelCodes = std::map<std::string, quant::LayerCodes>;
Result<ModelCodes> model_codes(const Model& quantized);

struct BoxSummary {
  std::int64_t layers = 0;     // layers with a box (quantized by at least one target)
  std::int64_t weights = 0;    // their weights
  std::int64_t frozen = 0;     // weights whose box is one value (absmax elements, empty intersections)
  double mean_width = 0;       // mean hi - lo over the weights that are not frozen
};

// Boxes of `fp`'s weights for each target (the codes its quantized copies hold, as model_codes
// gives them): box per target from quantization_boxes, then the intersection (max of lo, min of
// hi, as compute_pgd_box). An element whose intersection is empty is frozen at its value. Errors
// when a target's codes are not the ones qrun's box construction gives the weight (the quantizer
// and box.hpp disagree), or when no layer is quantized.
Result<BoxMap> target_boxes(const Model& fp, const std::vector<ModelCodes>& targets, BoxSummary* summary);

// Weights whose code differs between two quantized models (same layers, same quantizer).
struct CodeComparison {
  std::int64_t layers = 0;
  quant::FlipCount flips;
};
Result<CodeComparison> compare_codes(const ModelCodes& reference, const ModelCodes& other);

}  // namespace qrun::attack
