// The nf4/fp4 plugins' shared parts (qrun/quant/bnb4_plugin.hpp); the method is described in
// plugins/quantizers/README.md.
#include <qrun/quant/bnb4_plugin.hpp>

#include <qrun/quant/quant_linear.hpp>
#include <qrun/quant/quantize_model.hpp>

namespace qrun::quant {

Schema<FourBitParams> four_bit_schema() {
  return schema<FourBitParams>(
      field("blocksize", &FourBitParams::blocksize)
          .range(64, 4096)
          .unit("weights")
          .doc("consecutive weights (row-major) sharing one absmax; a power of two (bitsandbytes' choices)"),
      field("double_quant", &FourBitParams::double_quant)
          .doc("quantize the block absmax values to 8 bits in blocks of 256 (bnb_4bit_use_double_quant)"),
      field("include", &FourBitParams::include)
          .doc("layer-name patterns to quantize ('*' wildcard, substring match); empty: every linear layer"),
      field("exclude", &FourBitParams::exclude)
          .doc("layer-name patterns left in full precision (transformers keeps lm_head)"));
}

Result<TransformReport> apply_four_bit(FourBit type, const FourBitParams& p, Model& model, RunContext& ctx) {
  const std::string method(to_string(type));
  QRUN_TRY(check_blocksize_4bit(p.blocksize, method + ".blocksize"));
  QuantizeRequest req{method, p.include, p.exclude, method,
                      {{"blocksize", p.blocksize}, {"double_quant", p.double_quant}, {"include", p.include},
                       {"exclude", p.exclude}}};
  const FourBitConfig config{type, p.blocksize, p.double_quant};
  auto report = quantize_model(
      model, req,
      [config](const std::string& name, const at::Tensor& w, const at::Tensor& b, c10::ScalarType compute) {
        return make_4bit_linear(w, b, config, compute, name);
      },
      ctx);
  if (!report) return report;
  // transformers' BitsAndBytesConfig.to_dict(), so that a checkpoint qrun writes reads as one.
  report->details["quantization_config"] = {
      {"quant_method", "bitsandbytes"},     {"llm_int8_skip_modules", p.exclude},
      {"load_in_8bit", false},              {"load_in_4bit", true},
      {"bnb_4bit_quant_type", method},      {"bnb_4bit_use_double_quant", p.double_quant},
      {"bnb_4bit_compute_dtype", std::string(to_string(model.compute_dtype()))},
      {"bnb_4bit_quant_storage", "uint8"},  {"qrun_blocksize", p.blocksize}};  // transformers always uses 64
  return report;
}

Component four_bit_transform(FourBit type, std::string description) {
  return transform(std::string(to_string(type)), four_bit_schema(), Role::quantizer, std::move(description),
                   [type](const FourBitParams& p, Model& m, RunContext& ctx) { return apply_four_bit(type, p, m, ctx); });
}

Component four_bit_linear_kind(FourBit type) {
  return linear_kind(
      std::string(to_string(type)),
      "bitsandbytes Linear4bit (" + std::string(to_string(type)) + "): packed codes, block absmax, optional double quant",
      [type](const LinearState& s) { return load_4bit_linear(type, s); },
      [type](const std::vector<std::string>& suffixes) { return recognizes_4bit(type, suffixes); });
}

}  // namespace qrun::quant
