// nf4 and fp4: bitsandbytes' blockwise 4-bit quantization (Linear4bit) on the selected linear
// layers; the numerics are in qrun/quant/blockwise4.hpp and double_quant.hpp, the method in
// plugins/quantizers/README.md.
#include <qrun/plugin.hpp>
#include <qrun/quant/quant_linear.hpp>
#include <qrun/quant/quantize_model.hpp>

namespace {

struct FourBitParams {
  std::int64_t blocksize = qrun::quant::kDefaultBlocksize4bit;
  bool double_quant = true;
  std::vector<std::string> include = {};
  std::vector<std::string> exclude = {"lm_head"};
};

qrun::Schema<FourBitParams> make_schema() {
  return qrun::schema<FourBitParams>(
      qrun::field("blocksize", &FourBitParams::blocksize)
          .range(64, 4096)
          .unit("weights")
          .doc("consecutive weights (row-major) sharing one absmax; a power of two (bitsandbytes' choices)"),
      qrun::field("double_quant", &FourBitParams::double_quant)
          .doc("quantize the block absmax values to 8 bits in blocks of 256 (bnb_4bit_use_double_quant)"),
      qrun::field("include", &FourBitParams::include)
          .doc("layer-name patterns to quantize ('*' wildcard, substring match); empty: every linear layer"),
      qrun::field("exclude", &FourBitParams::exclude)
          .doc("layer-name patterns left in full precision (transformers keeps lm_head)"));
}

template <qrun::quant::FourBit Type>
qrun::Result<qrun::TransformReport> apply(const FourBitParams& p, qrun::Model& model, qrun::RunContext& ctx) {
  const std::string method(qrun::quant::to_string(Type));
  QRUN_TRY(qrun::quant::check_blocksize_4bit(p.blocksize, method + ".blocksize"));
  qrun::quant::QuantizeRequest req{method, p.include, p.exclude, method,
                                   {{"blocksize", p.blocksize},
                                    {"double_quant", p.double_quant},
                                    {"include", p.include},
                                    {"exclude", p.exclude}}};
  const qrun::quant::FourBitConfig config{Type, p.blocksize, p.double_quant};
  return qrun::quant::quantize_model(
      model, req,
      [config](const std::string& name, const at::Tensor& w, const at::Tensor& b, c10::ScalarType compute) {
        return qrun::quant::make_4bit_linear(w, b, config, compute, name);
      },
      ctx);
}

}  // namespace

QRUN_PLUGIN("nf4", "0.1.0",
            qrun::transform("nf4", make_schema(), qrun::Role::quantizer,
                            "bitsandbytes NF4: blockwise absmax, NormalFloat4 codes packed two per byte",
                            apply<qrun::quant::FourBit::nf4>),
            qrun::transform("fp4", make_schema(), qrun::Role::quantizer,
                            "bitsandbytes FP4 (e2m1): blockwise absmax, FP4 codes packed two per byte",
                            apply<qrun::quant::FourBit::fp4>));
