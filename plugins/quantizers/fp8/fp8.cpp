// fp8: FP8 weights (E4M3 or E5M2, minifloat.hpp) with a float32 scale per tensor or per output
// channel, as llm-compressor / compressed-tensors' float-quantized FP8 weights (and vLLM's FP8
// checkpoints with weight_scale): scale = amax / 448 (E4M3) or amax / 57344 (E5M2), amax over the
// tensor or each row; a zero scale becomes float32 eps (compressed-tensors' calculate_qparams);
// code = fp8(clamp(w / scale, -max, max)) with w / scale in float32, round to nearest even;
// dequantized w' = fp8 value * scale. Stored per layer: "weight" uint8 [out, in] (the FP8 bytes)
// and "weight_scale" float32 [1] or [out, 1]. A checkpoint without qrun metadata whose layer has
// exactly weight + weight_scale (+ input_scale, bias) with a uint8 weight loads as E4M3 (the
// format every published FP8 checkpoint uses).
#include "minifloat.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

#include <ATen/ATen.h>

#include <limits>
#include <set>

namespace {

namespace mf = qrun::minifloat;

struct Cfg {
  std::string format = "e4m3", granularity = "channel";
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("format", &Cfg::format).choices({"e4m3", "e5m2"}).doc("FP8 element format (OCP OFP8)"),
    qrun::field("granularity", &Cfg::granularity).choices({"tensor", "channel"})
        .doc("one scale per tensor or per output channel (row)"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

const mf::Format& format_of(const std::string& f) { return f == "e5m2" ? mf::kE5M2 : mf::kE4M3; }

class Fp8Linear final : public qrun::LinearImpl {
 public:
  Fp8Linear(at::Tensor codes, at::Tensor scale, at::Tensor input_scale, at::Tensor bias, std::string format,
            c10::ScalarType compute)
      : q_(codes), s_(scale), in_s_(input_scale), b_(bias), fmt_(std::move(format)), compute_(compute) {}
  std::string kind() const override { return "fp8"; }
  std::int64_t in_features() const override { return q_.size(1); }
  std::int64_t out_features() const override { return q_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override {
    return (mf::decode(q_, format_of(fmt_)) * s_.to(at::kFloat)).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * std::int64_t(t.element_size()) : 0; };
    const std::int64_t bytes = nb(q_) + nb(s_) + nb(in_s_) + nb(b_);
    return {bytes, bytes, 8, "fp8 " + fmt_ + (s_.numel() == 1 ? " per-tensor" : " per-channel")};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"weight", q_}, {"weight_scale", s_}};
    if (in_s_.defined()) t.emplace_back("input_scale", in_s_);
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override { return {{"format", fmt_}, {"shape", {q_.size(0), q_.size(1)}}}; }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<Fp8Linear>(mv(q_), mv(s_), mv(in_s_), mv(b_), fmt_, compute_);
  }

 private:
  at::Tensor q_, s_, in_s_, b_;
  std::string fmt_;
  c10::ScalarType compute_;
};

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize(const Cfg& c, const at::Tensor& w, const at::Tensor& b,
                                                         c10::ScalarType compute) {
  const mf::Format& f = format_of(c.format);
  const at::Tensor w32 = w.to(at::kFloat);
  at::Tensor amax = c.granularity == "tensor" ? w32.abs().max().reshape({1}) : std::get<0>(w32.abs().max(1, true));
  at::Tensor scale = amax / static_cast<float>(f.max);
  scale = at::where(scale == 0, at::full_like(scale, std::numeric_limits<float>::epsilon()), scale);
  const at::Tensor codes = mf::encode(w32 / scale, f);
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<Fp8Linear>(codes, scale, at::Tensor(), b, c.format, compute));
}

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  if (!have.count("weight") || !have.count("weight_scale")) return false;
  for (const auto& s : have)
    if (s != "weight" && s != "weight_scale" && s != "input_scale" && s != "bias") return false;
  return true;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor q, st.get("weight"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("weight_scale"));
  const std::string fmt = st.metadata.value("format", std::string("e4m3"));
  if (q.scalar_type() != at::kByte)
    return qrun::Error::of(qrun::ErrorCode::unsupported, st.name + ".weight",
                           "has weight_scale but is not FP8 bytes (an int8 or block-scaled checkpoint?)",
                           "qrun loads per-tensor or per-channel FP8 E4M3/E5M2 weights only");
  if (q.dim() != 2 || (fmt != "e4m3" && fmt != "e5m2") ||
      !(s.numel() == 1 || (s.dim() == 2 && s.size(0) == q.size(0) && s.size(1) == 1)))
    return qrun::Error{st.name, "fp8 weight and weight_scale disagree (scale must be [1] or [out, 1])",
                       "load a per-tensor or per-channel FP8 checkpoint", qrun::ErrorCode::corrupt_input};
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<Fp8Linear>(
      d(q), d(s.to(at::kFloat).reshape(s.numel() == 1 ? std::vector<std::int64_t>{1} : s.sizes().vec())),
      d(st.find("input_scale")), d(st.find("bias")), fmt, st.compute));
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"fp8", c.include, c.exclude, "fp8",
                                   {{"format", c.format}, {"granularity", c.granularity}}};
  // The weight bytes are stored as safetensors U8 (libtorch 1.13 has no float8 dtype), so the
  // checkpoint carries qrun's record, not compressed-tensors' config.
  return qrun::quant::quantize_model(model, req, [c](const std::string&, const at::Tensor& w, const at::Tensor& b,
                                                     c10::ScalarType ct) { return quantize(c, w, b, ct); }, ctx);
}

}  // namespace

QRUN_PLUGIN("fp8", "0.1.0",
            qrun::transform("fp8", schema, qrun::Role::quantizer,
                            "FP8 E4M3/E5M2 weights with per-tensor or per-channel amax scales", apply),
            qrun::linear_kind("fp8", "FP8 weight bytes with float32 weight_scale (compressed-tensors float-quantized)",
                              load, recognizes));
