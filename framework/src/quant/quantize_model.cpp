// The quantizer plugins' shared loop (see qrun/quant/quantize_model.hpp).
#include <qrun/quant/quantize_model.hpp>

#include <qrun/quant/layer_select.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <sstream>

namespace qrun::quant {

Result<TransformReport> quantize_model(Model& model, const QuantizeRequest& request, const LayerQuantizer& quantize,
                                       RunContext& ctx) {
  c10::InferenceMode guard;
  auto selected = select_layers(model.linear_names(), request.include, request.exclude, request.params_thing + ".include");
  if (!selected) return selected.error();
  const c10::ScalarType storage = to_scalar_type(model.storage_dtype());
  const c10::ScalarType compute = to_scalar_type(model.compute_dtype());
  std::int64_t bytes_before = 0, bytes_after = 0, hf_before = 0, hf_after = 0;
  auto progress = ctx.progress("quantizing to " + request.method, static_cast<std::int64_t>(selected->size()));
  for (const std::string& name : *selected) {
    const LinearImpl& dense = model.linear(name);
    if (dense.kind() != "dense")
      return Error{name, "is already quantized (" + dense.kind() + ")",
                   "apply one quantizer per variant, to a model loaded in full precision"};
    const StorageInfo before = dense.storage();
    // The weight as the checkpoint stores it, in its own dtype (a dense layer's state()).
    at::Tensor w, b;
    for (const auto& [suffix, t] : dense.state()) {
      if (suffix == "weight") w = t;
      if (suffix == "bias") b = t;
    }
    if (!w.defined()) w = dense.weight(storage);
    auto q = quantize(name, w, b, compute);
    if (!q) return q.error();
    const StorageInfo after = (*q)->storage();
    QRUN_TRY(model.set_linear(name, *q));
    bytes_before += before.bytes;
    hf_before += before.hf_footprint_bytes;
    bytes_after += after.bytes;
    hf_after += after.hf_footprint_bytes;
    progress->advance();
  }
  progress->finish();
  TransformReport r;
  std::ostringstream s;
  s << "quantized " << selected->size() << " of " << model.linear_names().size() << " linear layers to "
    << request.method << ": " << bytes_before << " -> " << bytes_after << " bytes";
  r.summary = s.str();
  r.details = {{"method", request.method},
               {"params", request.params},
               {"layers", *selected},
               {"layers_quantized", selected->size()},
               {"bytes_before", bytes_before},
               {"bytes_after", bytes_after},
               {"hf_footprint_before", hf_before},
               {"hf_footprint_after", hf_after}};
  ctx.info(r.summary);
  return r;
}

}  // namespace qrun::quant
