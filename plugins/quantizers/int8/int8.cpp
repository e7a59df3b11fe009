// int8: bitsandbytes' LLM.int8 (Linear8bitLt) on the selected linear layers; the numerics are in
// qrun/quant/int8.hpp and the method in plugins/quantizers/README.md.
#include <qrun/plugin.hpp>
#include <qrun/quant/int8.hpp>
#include <qrun/quant/quant_linear.hpp>
#include <qrun/quant/quantize_model.hpp>

namespace {

struct Int8Params {
  double threshold = qrun::quant::kDefaultInt8Threshold;
  std::vector<std::string> include = {};
  std::vector<std::string> exclude = {"lm_head"};
};

const auto schema = qrun::schema<Int8Params>(
    qrun::field("threshold", &Int8Params::threshold)
        .min(0.0)
        .doc("outlier threshold: input columns with any |x| >= threshold run in 16-bit (llm_int8_threshold); 0 disables"),
    qrun::field("include", &Int8Params::include)
        .doc("layer-name patterns to quantize ('*' wildcard, substring match); empty: every linear layer"),
    qrun::field("exclude", &Int8Params::exclude)
        .doc("layer-name patterns left in full precision (transformers keeps lm_head)"));

qrun::Result<qrun::TransformReport> apply(const Int8Params& p, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"int8", p.include, p.exclude, "int8",
                                   {{"threshold", p.threshold}, {"include", p.include}, {"exclude", p.exclude}}};
  const double threshold = p.threshold;
  auto report = qrun::quant::quantize_model(
      model, req,
      [threshold](const std::string& name, const at::Tensor& w, const at::Tensor& b, c10::ScalarType compute) {
        return qrun::quant::make_int8_linear(w, b, threshold, compute, name);
      },
      ctx);
  if (!report) return report;
  // transformers' BitsAndBytesConfig.to_dict(), so that a checkpoint qrun writes reads as one.
  report->details["quantization_config"] = {{"quant_method", "bitsandbytes"}, {"llm_int8_skip_modules", p.exclude},
                                            {"load_in_8bit", true},           {"load_in_4bit", false},
                                            {"llm_int8_threshold", p.threshold}};
  return report;
}

}  // namespace

QRUN_PLUGIN("int8", "0.2.0",
            qrun::transform("int8", schema, qrun::Role::quantizer,
                            "LLM.int8 as bitsandbytes: int8 row-wise weights, outlier columns in 16-bit", apply),
            qrun::linear_kind("int8", "bitsandbytes Linear8bitLt: int8 rows (CB), row absmax (SCB), outlier threshold",
                              qrun::quant::load_int8_linear, qrun::quant::recognizes_int8));
