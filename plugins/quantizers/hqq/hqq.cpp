// hqq: Half-Quadratic Quantization, calibration-free (hqq_solver.hpp for the reference and the
// arithmetic). Stored per layer: "W_q" the codes of the grouped view in row-major order as a
// little-endian bitstream of nbits per code (uint8), "scale" = 1/s and "zero" in float16 (HQQ keeps
// its meta in the float16 compute dtype), shaped [groups, 1] (axis 1) or [1, groups] (axis 0).
// Dequantized: (W_q - zero) * scale in float32 from the stored values (HQQ computes it in float16).
#include "hqq_solver.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace {

struct Cfg {
  std::int64_t nbits = 4, group_size = 64, axis = 1, iters = 20;
  double lp_norm = 0.7, beta = 10.0, kappa = 1.01;
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("nbits", &Cfg::nbits).range(1, 8).doc("bits per weight code (hqq: 1, 2, 3, 4, 5, 6, 8)"),
    qrun::field("group_size", &Cfg::group_size).min(8).doc("elements per group, a multiple of 8 dividing the weight's size"),
    qrun::field("axis", &Cfg::axis).range(0, 1).doc("1: groups of consecutive elements along rows; 0: strided groups (hqq's axis)"),
    qrun::field("iters", &Cfg::iters).range(2, 1000).doc("proximal solver iterations at most (early stop)"),
    qrun::field("lp_norm", &Cfg::lp_norm).range(0.1, 1.0).doc("p of the l_p error the solver minimises"),
    qrun::field("beta", &Cfg::beta).min(1e-9).doc("initial beta of the half-quadratic splitting"),
    qrun::field("kappa", &Cfg::kappa).min(1.0).doc("beta grows by this factor each iteration"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

at::Tensor pack(const at::Tensor& q, std::int64_t bits) {  // integer codes -> bitstream bytes
  auto planes = q.reshape({-1, 1}).to(at::kLong).bitwise_right_shift(at::arange(bits, at::kLong)).bitwise_and(1).reshape({-1});
  planes = at::constant_pad_nd(planes, {0, (8 - planes.numel() % 8) % 8}).reshape({-1, 8});
  return planes.bitwise_left_shift(at::arange(8, at::kLong)).sum(1).to(at::kByte);
}
at::Tensor unpack(const at::Tensor& bytes, std::int64_t bits, std::int64_t n) {
  auto planes = bytes.reshape({-1, 1}).to(at::kLong).bitwise_right_shift(at::arange(8, bytes.options().dtype(at::kLong))).bitwise_and(1);
  planes = planes.reshape({-1}).slice(0, 0, n * bits).reshape({n, bits});
  return planes.bitwise_left_shift(at::arange(bits, planes.options())).sum(1);
}

class HqqLinear final : public qrun::LinearImpl {
 public:
  HqqLinear(at::Tensor wq, at::Tensor scale, at::Tensor zero, at::Tensor bias, int nbits, std::int64_t group, int axis,
            std::int64_t out, std::int64_t in, c10::ScalarType compute)
      : wq_(wq), s_(scale), z_(zero), b_(bias), nbits_(nbits), group_(group), axis_(axis), out_(out), in_(in), compute_(compute) {}
  std::string kind() const override { return "hqq"; }
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return out_; }
  at::Tensor weight(c10::ScalarType dt) const override {
    const std::vector<std::int64_t> view = axis_ == 1 ? std::vector<std::int64_t>{-1, group_} : std::vector<std::int64_t>{group_, -1};
    const at::Tensor q = unpack(wq_, nbits_, out_ * in_).to(at::kFloat).reshape(view);
    return ((q - z_.to(at::kFloat)) * s_.to(at::kFloat)).reshape({out_, in_}).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * std::int64_t(t.element_size()) : 0; };
    const std::int64_t bytes = nb(wq_) + nb(s_) + nb(z_) + nb(b_);
    return {bytes, bytes, nbits_, "hqq int" + std::to_string(nbits_) + " g" + std::to_string(group_) + " axis" + std::to_string(axis_)};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"W_q", wq_}, {"scale", s_}, {"zero", z_}};
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    return {{"nbits", nbits_}, {"group_size", group_}, {"axis", axis_}, {"shape", {out_, in_}}};
  }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<HqqLinear>(mv(wq_), mv(s_), mv(z_), mv(b_), nbits_, group_, axis_, out_, in_, compute_);
  }

 private:
  at::Tensor wq_, s_, z_, b_;
  int nbits_;
  std::int64_t group_;
  int axis_;
  std::int64_t out_, in_;
  c10::ScalarType compute_;
};

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize(const Cfg& c, const std::string& name, const at::Tensor& w,
                                                         const at::Tensor& b, c10::ScalarType compute) {
  const std::int64_t out = w.size(0), in = w.size(1);
  if (c.group_size % 8 != 0 || (out * in) % c.group_size != 0)
    return qrun::Error{name, std::to_string(out) + "x" + std::to_string(in) + " weight: group_size " +
                                 std::to_string(c.group_size) + " must be a multiple of 8 dividing its size",
                       "choose another group_size (hqq_base_quant_config's rule)"};
  const qrun::hqq::Params p{static_cast<int>(c.nbits), c.group_size, static_cast<int>(c.axis), c.nbits == 4,
                            c.lp_norm, c.beta, c.kappa, static_cast<int>(c.iters)};
  const auto r = qrun::hqq::quantize(w.to(at::kFloat), p);
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<HqqLinear>(
      pack(r.codes, c.nbits), r.scale.to(at::kHalf), r.zero.to(at::kHalf), b.defined() ? b.to(at::kHalf) : b,
      static_cast<int>(c.nbits), c.group_size, static_cast<int>(c.axis), out, in, compute));
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  const auto& m = st.metadata;
  const int nbits = m.value("nbits", 0), axis = m.value("axis", -1);
  const std::int64_t group = m.value("group_size", std::int64_t{0});
  const auto shape = m.value("shape", std::vector<std::int64_t>{});
  QRUN_ASSIGN_OR_RETURN(at::Tensor wq, st.get("W_q"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("scale"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor z, st.get("zero"));
  if (nbits < 1 || nbits > 8 || (axis != 0 && axis != 1) || group <= 0 || shape.size() != 2 ||
      (shape[0] * shape[1]) % group != 0 || wq.numel() != (shape[0] * shape[1] * nbits + 7) / 8 ||
      s.numel() != shape[0] * shape[1] / group || z.numel() != s.numel())
    return qrun::Error{st.name, "hqq tensors and metadata disagree", "rewrite the checkpoint with qrun quantize",
                       qrun::ErrorCode::corrupt_input};
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<HqqLinear>(d(wq), d(s), d(z), d(st.find("bias")), nbits,
                                                                       group, axis, shape[0], shape[1], st.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"hqq", c.include, c.exclude, "hqq",
                                   {{"nbits", c.nbits}, {"group_size", c.group_size}, {"axis", c.axis},
                                    {"iters", c.iters}, {"lp_norm", c.lp_norm}, {"beta", c.beta}, {"kappa", c.kappa},
                                    {"round_zero", c.nbits == 4}}};
  return qrun::quant::quantize_model(model, req, [c](const std::string& n, const at::Tensor& w, const at::Tensor& b,
                                                     c10::ScalarType ct) { return quantize(c, n, w, b, ct); }, ctx);
}

}  // namespace

QRUN_PLUGIN("hqq", "0.1.0",
            qrun::transform("hqq", schema, qrun::Role::quantizer,
                            "HQQ (Badri & Shaji 2023): calibration-free half-quadratic zero-point optimisation", apply),
            qrun::linear_kind("hqq", "bit-packed codes with float16 per-group scale and zero (HQQ)", load));
