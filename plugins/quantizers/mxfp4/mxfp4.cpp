// mxfp4: OCP MX FP4 weights (fp8/fp4_quant.hpp for the definition, fp8/fp4_linear.hpp for the
// storage: compressed-tensors' weight_packed / weight_scale names with E8M0 scale codes).
#include "../fp8/fp4_quant.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

namespace {

namespace mf = qrun::minifloat;

struct Cfg { std::vector<std::string> include = {}, exclude = {"lm_head"}; };
const auto schema = qrun::schema<Cfg>(
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor p, st.get("weight_packed"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("weight_scale"));
  const auto shape = st.metadata.value("shape", std::vector<std::int64_t>{});
  const std::int64_t blocks = shape.size() == 2 ? (shape[1] + 31) / 32 : -1;
  if (shape.size() != 2 || p.scalar_type() != at::kByte || s.scalar_type() != at::kByte ||
      p.sizes() != at::IntArrayRef({shape[0], blocks * 16}) || s.sizes() != at::IntArrayRef({shape[0], blocks}))
    return qrun::Error{st.name, "mxfp4 tensors and metadata disagree", "rewrite the checkpoint with qrun quantize",
                       qrun::ErrorCode::corrupt_input};
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<mf::Fp4BlockLinear>(
      "mxfp4", d(p), d(s), at::Tensor(), d(st.find("bias")), mf::BlockScale::e8m0, 32, shape[0], shape[1], st.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"mxfp4", c.include, c.exclude, "mxfp4", {{"block_size", 32}, {"scale", "e8m0"}}};
  return qrun::quant::quantize_model(
      model, req,
      [](const std::string&, const at::Tensor& w, const at::Tensor& b, c10::ScalarType ct)
          -> qrun::Result<std::shared_ptr<qrun::LinearImpl>> {
        const auto q = mf::quantize_mxfp4(w);
        return std::shared_ptr<qrun::LinearImpl>(std::make_shared<mf::Fp4BlockLinear>(
            "mxfp4", mf::pack_nibbles(q.codes), q.scales, at::Tensor(), b, mf::BlockScale::e8m0, 32, w.size(0), w.size(1), ct));
      },
      ctx);
}

}  // namespace

QRUN_PLUGIN("mxfp4", "0.1.0",
            qrun::transform("mxfp4", schema, qrun::Role::quantizer,
                            "OCP MXFP4: E2M1 elements in blocks of 32 with an E8M0 shared scale", apply),
            qrun::linear_kind("mxfp4", "packed E2M1 codes with E8M0 block scales (OCP MX v1.0)", load));
