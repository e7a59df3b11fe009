// rtn: round-to-nearest group-wise integer quantization, the worked example of a quantizer plugin
// (public headers only). Per group of `group_size` input columns of a row, in float32:
//   symmetric:  s = max|w| / (2^(b-1) - 1), q = clamp(round(w / s), -2^(b-1), 2^(b-1) - 1), w' = q s
//   asymmetric: s = (max w - min w) / (2^b - 1), z = clamp(-round(min w / s), 0, 2^b - 1),
//               q = clamp(round(w / s) + z, 0, 2^b - 1), w' = (q - z) s
// (AWQ's pseudo_quantize_tensor, mit-han-lab/llm-awq awq/quantize/quantizer.py, with the range
// clamped at 1e-5 as there). Codes are stored unsigned, `bits` each, packed little-endian into
// bytes ("qweight"), with float32 "scales" [out, groups] and uint8 "zeros" [out, groups].
#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace {

struct Cfg { std::int64_t bits = 4, group_size = 128; bool symmetric = false;
             std::vector<std::string> include = {}, exclude = {"lm_head"}; };
const auto schema = qrun::schema<Cfg>(
    qrun::field("bits", &Cfg::bits).range(2, 8).doc("bits per weight code"),
    qrun::field("group_size", &Cfg::group_size).min(-1).doc("input columns sharing a scale; -1: the whole row"),
    qrun::field("symmetric", &Cfg::symmetric).doc("true: zero point 0; false: per-group zero point (AWQ)"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

at::Tensor pack(const at::Tensor& q, std::int64_t bits) {  // uint8 codes -> bitstream bytes
  auto planes = q.reshape({-1, 1}).bitwise_right_shift(at::arange(bits, q.options())).bitwise_and(1).reshape({-1});
  planes = at::constant_pad_nd(planes, {0, (8 - planes.numel() % 8) % 8}).reshape({-1, 8});
  return planes.bitwise_left_shift(at::arange(8, q.options())).sum(1).to(at::kByte);
}
at::Tensor unpack(const at::Tensor& bytes, std::int64_t bits, std::int64_t n) {
  auto planes = bytes.reshape({-1, 1}).bitwise_right_shift(at::arange(8, bytes.options())).bitwise_and(1);
  planes = planes.reshape({-1}).slice(0, 0, n * bits).reshape({n, bits});
  return planes.bitwise_left_shift(at::arange(bits, bytes.options())).sum(1).to(at::kByte);
}

class RtnLinear final : public qrun::LinearImpl {
 public:
  RtnLinear(at::Tensor qweight, at::Tensor scales, at::Tensor zeros, at::Tensor bias, Cfg c,
            std::int64_t out, std::int64_t in, c10::ScalarType compute)
      : qw_(qweight), s_(scales), z_(zeros), b_(bias), c_(c), out_(out), in_(in), compute_(compute) {}
  std::string kind() const override { return "rtn"; }
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return out_; }
  at::Tensor weight(c10::ScalarType dt) const override {
    auto q = unpack(qw_, c_.bits, out_ * in_).to(at::kFloat).reshape({out_, s_.size(1), -1});
    auto z = c_.symmetric ? at::full_like(s_, std::pow(2.0, c_.bits - 1)) : z_.to(at::kFloat);
    return ((q - z.unsqueeze(2)) * s_.unsqueeze(2)).reshape({out_, in_}).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * std::int64_t(t.element_size()) : 0; };
    const std::int64_t bytes = nb(qw_) + nb(s_) + nb(z_) + nb(b_);
    return {bytes, bytes, int(c_.bits), "int" + std::to_string(c_.bits) + (c_.symmetric ? " sym" : " asym") +
                                            " g" + std::to_string(in_ / s_.size(1))};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"qweight", qw_}, {"scales", s_}};
    if (z_.defined()) t.emplace_back("zeros", z_);
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    return {{"bits", c_.bits}, {"group_size", in_ / s_.size(1)}, {"symmetric", c_.symmetric}, {"shape", {out_, in_}}};
  }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<RtnLinear>(mv(qw_), mv(s_), mv(z_), mv(b_), c_, out_, in_, compute_);
  }

 private:
  at::Tensor qw_, s_, z_, b_;
  Cfg c_;
  std::int64_t out_, in_;
  c10::ScalarType compute_;
};

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize(const Cfg& c, const std::string& name, const at::Tensor& w,
                                                         const at::Tensor& b, c10::ScalarType compute) {
  const std::int64_t out = w.size(0), in = w.size(1), g = c.group_size == -1 ? in : c.group_size;
  if (g <= 0 || in % g != 0)
    return qrun::Error{name, "has " + std::to_string(in) + " input columns, not a multiple of group_size " +
                                 std::to_string(g), "choose a group_size that divides in_features, or -1"};
  auto x = w.to(at::kFloat).reshape({out, in / g, g});
  at::Tensor s, z, q;
  if (c.symmetric) {
    const double max_int = std::pow(2.0, c.bits - 1) - 1;
    s = std::get<0>(x.abs().max(2)).clamp_min(1e-5) / max_int;
    q = at::clamp(at::round(x / s.unsqueeze(2)), -max_int - 1, max_int) + (max_int + 1);
  } else {
    const double max_int = std::pow(2.0, c.bits) - 1;
    auto lo = std::get<0>(x.min(2)), hi = std::get<0>(x.max(2));
    s = (hi - lo).clamp_min(1e-5) / max_int;
    z = at::clamp(-at::round(lo / s), 0, max_int);
    q = at::clamp(at::round(x / s.unsqueeze(2)) + z.unsqueeze(2), 0, max_int);
    z = z.to(at::kByte);
  }
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<RtnLinear>(
      pack(q.to(at::kByte).reshape({-1}), c.bits), s.contiguous(), z, b, c, out, in, compute));
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  const auto& m = st.metadata;
  Cfg c;
  c.bits = m.value("bits", 0); c.symmetric = m.value("symmetric", false);
  const auto shape = m.value("shape", std::vector<std::int64_t>{});
  auto qw = st.get("qweight"), s = st.get("scales");
  if (!qw) return qw.error();
  if (!s) return s.error();
  const at::Tensor z = st.find("zeros");
  if (c.bits < 2 || c.bits > 8 || shape.size() != 2 || s->dim() != 2 || s->size(0) != shape[0] ||
      shape[1] % s->size(1) != 0 || qw->numel() != (shape[0] * shape[1] * c.bits + 7) / 8 ||
      c.symmetric == z.defined())
    return qrun::Error{st.name, "rtn tensors and metadata disagree", "rewrite the checkpoint with qrun quantize",
                       qrun::ErrorCode::corrupt_input};
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<RtnLinear>(
      d(*qw), d(*s), d(z), d(st.find("bias")), c, shape[0], shape[1], st.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"rtn", c.include, c.exclude, "rtn",
                                   {{"bits", c.bits}, {"group_size", c.group_size}, {"symmetric", c.symmetric}}};
  return qrun::quant::quantize_model(model, req, [c](const std::string& n, const at::Tensor& w, const at::Tensor& b,
                                                     c10::ScalarType ct) { return quantize(c, n, w, b, ct); }, ctx);
}

}  // namespace

QRUN_PLUGIN("rtn", "0.1.0",
            qrun::transform("rtn", schema, qrun::Role::quantizer, "round-to-nearest group-wise int2-int8", apply),
            qrun::linear_kind("rtn", "packed int2-int8 codes with per-group float32 scales (and zeros)", load));
