// model_size: bytes a model holds (qrun::model_storage: every linear layer's real storage plus
// every other tensor) and its compression against the same parameters stored as float16.
#include <qrun/plugin.hpp>

#include <string>
#include <vector>

namespace {

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const qrun::NoParams&, const qrun::MetricInputs& in,
                                                       qrun::RunContext&) {
  using qrun::Better;
  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"model_size", "variant " + v.name + " has no model", "report this as a bug"};
    qrun::Model& m = *v.model;
    const qrun::ModelStorage s = qrun::model_storage(m);
    std::int64_t linear_params = 0;
    for (const std::string& name : m.linear_names()) {
      const qrun::LinearImpl& l = m.linear(name);
      linear_params += l.in_features() * l.out_features() + (l.bias().defined() ? l.out_features() : 0);
    }
    if (s.total_bytes <= 0 || s.parameters <= 0)
      return qrun::Error{"model_size variant " + v.name, "holds no bytes", "load a model with weights"};
    // FP16 reference size: 2 bytes per logical (unquantized) parameter.
    const std::int64_t fp16_bytes = 2 * s.parameters;
    const std::int64_t n = s.parameters;
    qrun::MetricResult r;
    r.values = {
        {"total_bytes", static_cast<double>(s.total_bytes), std::nullopt, n, "bytes", Better::lower, ""},
        {"linear_bytes", static_cast<double>(s.linear_bytes), std::nullopt, linear_params, "bytes", Better::lower, ""},
        {"quantized_linear_bytes", static_cast<double>(s.quantized_linear_bytes), std::nullopt, linear_params, "bytes",
         Better::none, ""},
        {"hf_footprint_bytes", static_cast<double>(s.hf_footprint_bytes), std::nullopt, n, "bytes", Better::lower, ""},
        {"fp16_bytes", static_cast<double>(fp16_bytes), std::nullopt, n, "bytes", Better::none, ""},
        // compression = FP16 bytes of the same parameters / bytes held
        {"compression_vs_fp16", static_cast<double>(fp16_bytes) / static_cast<double>(s.total_bytes), std::nullopt, n,
         "×", Better::higher, ""},
        {"parameters", static_cast<double>(s.parameters), std::nullopt, n, "", Better::none, ""},
    };
    if (linear_params > 0 && s.linear_bytes > 0) {
      // bits per linear parameter = 8 · linear bytes / linear parameters (scales and codes included)
      r.values.push_back({"linear_bits_per_parameter",
                          8.0 * static_cast<double>(s.linear_bytes) / static_cast<double>(linear_params), std::nullopt,
                          linear_params, "bits", Better::lower, ""});
      r.values.push_back({"linear_compression_vs_fp16",
                          2.0 * static_cast<double>(linear_params) / static_cast<double>(s.linear_bytes), std::nullopt,
                          linear_params, "×", Better::higher, ""});
    }
    std::int64_t quantized_layers = 0;
    for (const std::string& name : m.linear_names()) quantized_layers += m.linear(name).kind() != "dense";
    r.details = {{"storage_dtype", std::string(qrun::to_string(m.storage_dtype()))},
                 {"compute_dtype", std::string(qrun::to_string(m.compute_dtype()))},
                 {"linear_layers", static_cast<std::int64_t>(m.linear_names().size())},
                 {"quantized_linear_layers", quantized_layers},
                 {"linear_parameters", linear_params}};
    r.method = "Bytes the model holds in memory (every linear layer's storage as its implementation reports it, packed "
               "codes and quantization state included, plus every other tensor), transformers' get_memory_footprint() "
               "equivalent (parameters only), and compression = 2 bytes × logical parameters / bytes held.";
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("model_size", "0.1.0",
            qrun::metric("model_size", qrun::no_params(), qrun::MetricSpec{false, false},
                         "Bytes held by the model (total, linear, quantized) and compression vs float16", evaluate));
