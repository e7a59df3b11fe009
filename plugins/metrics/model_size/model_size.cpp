// model_size: bytes a model holds (qrun::model_storage: every linear layer's real storage plus
// every other tensor) and its compression against the same parameters stored as float16.
#include <qrun/plugin.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using qrun::Better;
using qrun::Compare;

const qrun::MetricSpec spec{
    .compares_to_baseline = false,
    .needs_dataset = false,
    .values = {
        qrun::value("total_bytes", "total size", "bytes", Better::lower)
            .doc("Bytes the model holds")
            .counting("parameters")
            .compared(Compare::size_ratio),
        qrun::value("linear_bytes", "linear size", "bytes", Better::lower)
            .doc("Bytes of the linear layers as stored (codes, scales, metadata, bias)")
            .counting("linear-layer parameters")
            .compared(Compare::size_ratio),
        qrun::value("quantized_linear_bytes", "quantized linear size", "bytes")
            .doc("Bytes of the quantized linear layers")
            .counting("linear-layer parameters"),
        qrun::value("hf_footprint_bytes", "HF footprint", "bytes", Better::lower)
            .doc("transformers' get_memory_footprint() equivalent")
            .counting("parameters")
            .compared(Compare::size_ratio),
        qrun::value("fp16_bytes", "fp16 size", "bytes").doc("The same parameters as float16").counting("parameters"),
        qrun::value("compression_vs_fp16", "compression vs fp16", "×", Better::higher)
            .doc("2 bytes × parameters / bytes held")
            .counting("parameters")
            .compared(Compare::none),
        qrun::value("parameters", "parameters").doc("Logical parameter count").counting("parameters"),
        qrun::value("linear_bits_per_parameter", "linear bits/parameter", "bits", Better::lower)
            .doc("Bits per linear-layer parameter as stored, scales and metadata included (float16: 16)")
            .counting("linear-layer parameters")
            .headline(),
        qrun::value("linear_compression_vs_fp16", "linear compression vs fp16", "×", Better::higher)
            .doc("2 bytes × linear-layer parameters / linear bytes held")
            .counting("linear-layer parameters")
            .compared(Compare::none),
    }};

// Linear layers by storage format: layers, weights, the bits of one stored code, and bits per
// weight with scales and metadata (8 × bytes / weights).
nlohmann::json linear_formats(qrun::Model& m) {
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& name : m.linear_names()) {
    const qrun::LinearImpl& l = m.linear(name);
    const qrun::StorageInfo info = l.storage();
    nlohmann::json& f = out[info.format];
    if (f.is_null()) f = {{"layers", 0}, {"weights", 0}, {"bytes", 0}, {"code_bits", info.code_bits}};
    f["layers"] = f["layers"].get<std::int64_t>() + 1;
    f["weights"] = f["weights"].get<std::int64_t>() + l.out_features() * l.in_features();
    f["bytes"] = f["bytes"].get<std::int64_t>() + info.bytes;
  }
  for (auto& [format, f] : out.items())
    f["bits_per_weight"] = 8.0 * f["bytes"].get<double>() / std::max<double>(1.0, f["weights"].get<double>());
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const qrun::NoParams&, const qrun::MetricInputs& in,
                                                       qrun::RunContext&) {
  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"model_size", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
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
                 {"linear_parameters", linear_params},
                 {"linear_formats", linear_formats(m)}};
    r.method = "Bytes the model holds: every linear layer as stored, as its implementation reports it (packed codes "
               "and quantization state included; a float16 layer computed in float32 on the CPU counts as float16, 16 "
               "bits per weight), plus every other tensor as held in memory; transformers' get_memory_footprint() "
               "equivalent (parameters only); compression = 2 bytes × logical parameters / bytes held; "
               "linear_bits_per_parameter = 8 × linear bytes / linear-layer parameters. details.linear_formats breaks "
               "the linear layers down by storage format (code bits and bits per weight with scales).";
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("model_size", "0.1.0",
            qrun::metric("model_size", qrun::no_params(), spec,
                         "Bytes held by the model (total, linear, quantized) and compression vs float16", evaluate));
