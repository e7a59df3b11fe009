// An out-of-tree quantizer, written against the installed public headers only: symmetric per-row
// absmax int4 (q = clamp(round(w * 7 / max|w_row|), -8, 7), w' = q * max|w_row| / 7, float32),
// two codes per byte, with its own linear kind so that its checkpoints load back.
#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

#include <ATen/ATen.h>

namespace {

struct Cfg { std::vector<std::string> exclude = {"lm_head"}; };
const auto schema = qrun::schema<Cfg>(qrun::field("exclude", &Cfg::exclude).doc("layers left in full precision"));

class Absmax4 final : public qrun::LinearImpl {
 public:
  Absmax4(at::Tensor packed, at::Tensor scale, at::Tensor bias, std::int64_t in, c10::ScalarType compute)
      : packed_(packed), scale_(scale), bias_(bias), in_(in), compute_(compute) {}
  std::string kind() const override { return "oot_absmax4"; }
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return scale_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override {
    auto lo = packed_.bitwise_and(15), hi = packed_.bitwise_right_shift(4);
    auto q = at::stack({lo, hi}, 2).reshape({out_features(), in_}).to(at::kFloat) - 8;
    return (q * (scale_ / 7).unsqueeze(1)).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return bias_.defined() ? bias_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    std::int64_t b = packed_.numel() + scale_.numel() * 4 + (bias_.defined() ? bias_.numel() * bias_.element_size() : 0);
    return {b, b, 4, "int4 absmax per row"};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"packed", packed_}, {"scale", scale_}};
    if (bias_.defined()) t.emplace_back("bias", bias_);
    return t;
  }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    return std::make_shared<Absmax4>(packed_.to(d, false, true), scale_.to(d, false, true),
                                     bias_.defined() ? bias_.to(d, false, true) : bias_, in_, compute_);
  }

 private:
  at::Tensor packed_, scale_, bias_;  // uint8 [out, in/2], float32 [out], stored dtype
  std::int64_t in_;
  c10::ScalarType compute_;
};

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize(const std::string& name, const at::Tensor& w,
                                                         const at::Tensor& b, c10::ScalarType compute) {
  if (w.size(1) % 2) return qrun::Error{name, "has an odd number of input columns", "exclude it"};
  auto x = w.to(at::kFloat);
  auto scale = std::get<0>(x.abs().max(1)).clamp_min(1e-12);
  auto q = (at::clamp(at::round(x * 7 / scale.unsqueeze(1)), -8, 7) + 8).to(at::kByte).reshape({w.size(0), -1, 2});
  auto packed = q.select(2, 0).bitwise_or(q.select(2, 1).bitwise_left_shift(4));
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<Absmax4>(packed.contiguous(), scale, b, w.size(1), compute));
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& s) {
  auto packed = s.get("packed"), scale = s.get("scale");
  if (!packed) return packed.error();
  if (!scale) return scale.error();
  auto to = [&](const at::Tensor& t) { return t.defined() ? t.to(s.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(
      std::make_shared<Absmax4>(to(*packed), to(*scale), to(s.find("bias")), packed->size(1) * 2, s.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& m, qrun::RunContext& ctx) {
  return qrun::quant::quantize_model(m, {"oot_absmax4", {}, c.exclude, "oot_absmax4", {{"exclude", c.exclude}}},
                                     quantize, ctx);
}

}  // namespace

QRUN_PLUGIN("oot_absmax4", "0.0.1",
            qrun::transform("oot_absmax4", schema, qrun::Role::quantizer, "Per-row absmax int4 (out-of-tree).", apply),
            qrun::linear_kind("oot_absmax4", "uint8-packed int4 codes with a float32 absmax per row", load));
