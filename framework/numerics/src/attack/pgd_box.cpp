// Boxes of the attack's repair step and the code comparison (qrun/attack/pgd_box.hpp).
#include <qrun/attack/pgd_box.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace qrun::attack {

Result<ModelCodes> model_codes(const Model& quantized) {
  ModelCodes out;
  for (const std::string& name : quantized.linear_names()) {
    auto codes = quant::layer_codes(quantized.linear(name), name);
    if (!codes) return codes.error();
    if (*codes) out.emplace(name, std::move(**codes));
  }
  return out;
}

Result<BoxMap> target_boxes(const Model& fp, const std::vector<ModelCodes>& targets, BoxSummary* summary) {
  c10::InferenceMode guard;
  BoxMap boxes;
  for (const ModelCodes& target : targets)
    for (const auto& [name, codes] : target) {
      const LinearImpl& layer = fp.linear(name);
      if (layer.kind() != "dense")
        return Error{name, "is already quantized in the full-precision model", "compute boxes of the unquantized model"};
      const at::Tensor w = layer.weight(at::kFloat).to(at::kCPU);
      auto b = quant::quantization_boxes(w, codes.spec, name);
      if (!b) return b.error();
      if (!at::equal(b->codes.to(at::kCPU), codes.codes.to(at::kCPU).to(b->codes.scalar_type())))
        return Error{name, "the quantizer's codes differ from the codes " + quant::describe(codes.spec) +
                               " gives the weight in qrun/quant/box.hpp",
                     "report this as a bug (the box construction must follow the quantizer)", ErrorCode::internal};
      auto it = boxes.find(name);
      if (it == boxes.end()) {
        boxes.emplace(name, LayerBox{b->lo, b->hi});
      } else {  // intersection, as compute_pgd_box
        it->second.lo = at::max(it->second.lo, b->lo);
        it->second.hi = at::min(it->second.hi, b->hi);
      }
    }
  if (boxes.empty())
    return Error{"attack boxes", "no linear layer is quantized by the target quantizers",
                 "check the targets' include/exclude parameters"};
  BoxSummary s;
  double width_sum = 0;
  for (auto& [name, box] : boxes) {
    const at::Tensor w = fp.linear(name).weight(at::kFloat).to(at::kCPU);
    const at::Tensor empty = at::gt(box.lo, box.hi);  // disjoint targets: keep the weight
    box.lo = at::where(empty, w, box.lo).contiguous();
    box.hi = at::where(empty, w, box.hi).contiguous();
    const at::Tensor width = box.hi - box.lo;
    const at::Tensor frozen = at::eq(width, 0);
    ++s.layers;
    s.weights += w.numel();
    s.frozen += frozen.sum().item<std::int64_t>();
    width_sum += width.to(at::kDouble).sum().item<double>();
  }
  const std::int64_t free = s.weights - s.frozen;
  s.mean_width = free > 0 ? width_sum / static_cast<double>(free) : 0.0;
  if (summary != nullptr) *summary = s;
  return boxes;
}

Result<CodeComparison> compare_codes(const ModelCodes& reference, const ModelCodes& other) {
  CodeComparison c;
  for (const auto& [name, ref] : reference) {
    const auto it = other.find(name);
    if (it == other.end())
      return Error{name, "is quantized in the reference model but not in the other", "quantize both with the same transform"};
    if (!(it->second.spec == ref.spec))
      return Error{name, "was quantized as " + quant::describe(ref.spec) + " and as " + quant::describe(it->second.spec),
                   "quantize both with the same transform"};
    auto f = quant::count_flips(ref.codes, it->second.codes, name);
    if (!f) return f.error();
    c.flips.flipped += f->flipped;
    c.flips.n += f->n;
    ++c.layers;
  }
  if (other.size() != reference.size())
    return Error{"code comparison", "the models quantize different numbers of layers", "quantize both with the same transform"};
  return c;
}

}  // namespace qrun::attack
