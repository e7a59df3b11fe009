// model_storage: bytes held by a Model, and what transformers' get_memory_footprint() would count
// (sum over parameters of numel * element_size; rotary inv_freq buffers are not model parameters
// here and are left out, a few hundred bytes at most).
#include <qrun/model.hpp>

#include <ATen/ATen.h>

namespace qrun {

ModelStorage model_storage(Model& model) {
  ModelStorage s;
  for (const std::string& name : model.linear_names()) {
    const LinearImpl& l = model.linear(name);
    const StorageInfo info = l.storage();
    s.linear_bytes += info.bytes;
    if (l.kind() != "dense") s.quantized_linear_bytes += info.bytes;
    s.hf_footprint_bytes += info.hf_footprint_bytes;
    s.parameters += l.in_features() * l.out_features();
    if (l.bias().defined()) s.parameters += l.out_features();
  }
  s.total_bytes = s.linear_bytes;
  for (const auto& [name, t] : model.other_tensors()) {
    const std::int64_t bytes = t.numel() * static_cast<std::int64_t>(t.element_size());
    s.total_bytes += bytes;
    s.hf_footprint_bytes += bytes;
    s.parameters += t.numel();
  }
  return s;
}

}  // namespace qrun
