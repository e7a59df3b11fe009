// fp8: FP8 weights (E4M3 or E5M2, minifloat.hpp) with a float32 scale per tensor or per output
// channel, as llm-compressor / compressed-tensors' float-quantized FP8 weights (and vLLM's FP8
// checkpoints with weight_scale): scale = amax / 448 (E4M3) or amax / 57344 (E5M2), amax over the
// tensor or each row; a zero scale becomes float32 eps (compressed-tensors' calculate_qparams);
// code = fp8(clamp(w / scale, -max, max)) with w / scale in float32, round to nearest even;
// dequantized w' = fp8 value * scale. Stored per layer: "weight" [out, in] (the FP8 bytes, uint8
// in memory, safetensors dtype F8_E4M3 / F8_E5M2 on disk) and "weight_scale" float32 [1] or
// [out, 1]; config.json gets compressed-tensors' float-quantized quantization_config (E4M3).
//
// Published checkpoints (no qrun metadata; F8 tensors load as uint8 bytes; the element format is
// the weight's safetensors dtype, F8_E4M3 or F8_E5M2, E4M3 when unknown; a recorded "format" that
// disagrees with the stored dtype is an error) whose layer holds weight + one scale (+ input/
// activation scale, bias):
//   * compressed-tensors float-quantized (llm-compressor FP8, FP8_DYNAMIC, FP8_BLOCK): weight_scale
//     [1] / [out, 1] / [ceil(out/128), ceil(in/128)], optional static input_scale [1];
//   * vLLM fp8 and transformers' "fbgemm_fp8" (FbgemmFp8Linear): weight_scale [out, 1] float32
//     (fbgemm's input_scale_ub is a non-persistent buffer, never in the file);
//   * transformers' "fp8" (FineGrainedFP8, DeepSeek-V3 style): weight_scale_inv [ceil(out/bo),
//     ceil(in/bi)] (weight_block_size, default 128 x 128) or a scalar, dequantized w = fp8 *
//     weight_scale_inv per block (despite the name, a multiplier), optional activation_scale.
// Block sizes are not in the tensors: 128 when the scale's shape agrees with it (the default of
// every writer), else out / rows and in / cols when they divide exactly.
// A static activation scale (input_scale / activation_scale) is applied in the forward as vLLM's
// static FP8 path does: x' = E4M3(clamp(x / s, -448, 448)) * s (minifloat::fake_quantize).
// compressed-tensors int-quantized layers (llm-compressor W8A8 int8) have the same tensor names
// with an int8 weight (safetensors I8); they are refused below: handing them to the smoothquant
// plugin's w8a8 kind needs load_linear (framework/src/model/linear_kinds.cpp) to accept a layer of
// another registered kind from a loader (today an internal error).
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
std::string header_name(const std::string& f) { return f == "e5m2" ? "F8_E5M2" : "F8_E4M3"; }

// The tensor names a layer stores its scales under (as read, written back the same).
struct Names {
  std::string scale = "weight_scale", act = "input_scale";
};

class Fp8Linear final : public qrun::LinearImpl {
 public:
  // scale: [1], [out, 1] or [ceil(out/bo), ceil(in/bi)] with block = {bo, bi}.
  Fp8Linear(at::Tensor codes, at::Tensor scale, std::vector<std::int64_t> block, at::Tensor input_scale, at::Tensor bias,
            std::string format, Names names, c10::ScalarType compute)
      : q_(codes), s_(scale), block_(std::move(block)), in_s_(input_scale), b_(bias), fmt_(std::move(format)),
        names_(std::move(names)), compute_(compute) {}
  std::string kind() const override { return "fp8"; }
  std::int64_t in_features() const override { return q_.size(1); }
  std::int64_t out_features() const override { return q_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override {
    at::Tensor s = s_.to(at::kFloat);
    if (!block_.empty())
      s = s.repeat_interleave(block_[0], 0).slice(0, 0, q_.size(0)).repeat_interleave(block_[1], 1).slice(1, 0, q_.size(1));
    return (mf::decode(q_, format_of(fmt_)) * s).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override {
    if (!in_s_.defined()) return at::linear(x, weight(x.scalar_type()), bias());
    const at::Tensor s = in_s_.to(at::kFloat).reshape({});
    const at::Tensor xq = (mf::fake_quantize(x.to(at::kFloat) / s, mf::kE4M3) * s).to(x.scalar_type());
    return at::linear(xq, weight(x.scalar_type()), bias());
  }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return !in_s_.defined(); }
  bool graph_safe(std::int64_t rows) const override { return rows >= 0; }  // device ops only
  qrun::StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * std::int64_t(t.element_size()) : 0; };
    const std::int64_t bytes = nb(q_) + nb(s_) + nb(in_s_) + nb(b_);
    const std::string g = !block_.empty() ? " block " + std::to_string(block_[0]) + "x" + std::to_string(block_[1])
                          : s_.numel() == 1 ? " per-tensor" : " per-channel";
    return {bytes, bytes, 8, "fp8 " + fmt_ + g + (in_s_.defined() ? " static-activation" : "")};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"weight", q_}, {names_.scale, s_}};
    if (in_s_.defined()) t.emplace_back(names_.act, in_s_);
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    nlohmann::json m = {{"format", fmt_}, {"shape", {q_.size(0), q_.size(1)}},
                        {"safetensors_dtypes", {{"weight", header_name(fmt_)}}}};
    if (!block_.empty()) m["block"] = block_;
    return m;
  }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<Fp8Linear>(mv(q_), mv(s_), block_, mv(in_s_), mv(b_), fmt_, names_, compute_);
  }

 private:
  at::Tensor q_, s_;
  std::vector<std::int64_t> block_;  // empty: per tensor or per channel
  at::Tensor in_s_, b_;
  std::string fmt_;
  Names names_;
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
  return std::shared_ptr<qrun::LinearImpl>(
      std::make_shared<Fp8Linear>(codes, scale, std::vector<std::int64_t>{}, at::Tensor(), b, c.format, Names{}, compute));
}

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  if (!have.count("weight") || have.count("weight_scale") + have.count("weight_scale_inv") != 1) return false;
  if (have.count("input_scale") && have.count("activation_scale")) return false;
  for (const auto& s : have)
    if (s != "weight" && s != "weight_scale" && s != "weight_scale_inv" && s != "input_scale" && s != "activation_scale" &&
        s != "bias")
      return false;
  return true;
}

// The block of a 2-D scale [rows, cols] over [out, in] that is neither per tensor nor per channel.
std::int64_t block_of(std::int64_t n, std::int64_t k) {
  if ((n + 127) / 128 == k) return 128;
  return k > 0 && n % k == 0 ? n / k : -1;
}

// The element format of a layer's weight: the stored safetensors dtype (F8_E4M3 / F8_E5M2) when
// known, else qrun's recorded "format", else E4M3; an error when the two disagree.
qrun::Result<std::string> weight_format(const qrun::LinearState& st) {
  const std::string stored = st.stored_dtype("weight");
  const std::string from_dtype = stored == "F8_E5M2" ? "e5m2" : stored == "F8_E4M3" ? "e4m3" : "";
  if (!st.metadata.contains("format")) return from_dtype.empty() ? std::string("e4m3") : from_dtype;
  const std::string recorded = st.metadata.value("format", std::string());
  if (!from_dtype.empty() && recorded != from_dtype)
    return qrun::Error{st.name + ".weight", "is stored as " + stored + " but the layer's record says format \"" + recorded + "\"",
                       "repair the checkpoint: the qrun.linear metadata and the tensor's safetensors dtype must agree",
                       qrun::ErrorCode::corrupt_input};
  return recorded;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor q, st.get("weight"));
  Names names;
  if (!st.find("weight_scale_inv").defined() && st.find("weight_scale").defined()) names.scale = "weight_scale";
  else names.scale = "weight_scale_inv";
  if (st.find("activation_scale").defined()) names.act = "activation_scale";
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get(names.scale));
  const at::Tensor in_s = st.find(names.act);
  QRUN_ASSIGN_OR_RETURN(const std::string fmt, weight_format(st));
  if (q.scalar_type() != at::kByte)
    return qrun::Error::of(qrun::ErrorCode::unsupported, st.name + ".weight",
                           std::string("has ") + names.scale + " but is " + c10::toString(q.scalar_type()) +
                               ", not FP8 bytes (an int8 W8A8 checkpoint?)",
                           "qrun loads FP8 E4M3/E5M2 weights (safetensors F8_E4M3 / F8_E5M2) with this kind");
  const qrun::Error bad{st.name, "fp8 weight and " + names.scale + " disagree (scale must be [1], [out, 1] or one per block)",
                        "load a per-tensor, per-channel or block-wise FP8 checkpoint", qrun::ErrorCode::corrupt_input};
  if (q.dim() != 2 || (fmt != "e4m3" && fmt != "e5m2") || (in_s.defined() && in_s.numel() != 1)) return bad;
  const std::int64_t out = q.size(0), in = q.size(1);
  std::vector<std::int64_t> block;
  at::Tensor scale = s.to(at::kFloat);
  if (s.numel() == 1) {
    scale = scale.reshape({1});
  } else if (!(s.dim() == 2 && s.size(0) == out && s.size(1) == 1)) {
    if (s.dim() != 2) return bad;
    block = st.metadata.value("block", std::vector<std::int64_t>{block_of(out, s.size(0)), block_of(in, s.size(1))});
    if (block.size() != 2 || block[0] < 1 || block[1] < 1 || (out + block[0] - 1) / block[0] != s.size(0) ||
        (in + block[1] - 1) / block[1] != s.size(1))
      return bad;
  }
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<Fp8Linear>(
      d(q), d(scale), block, d(in_s.defined() ? in_s.to(at::kFloat).reshape({1}) : in_s), d(st.find("bias")), fmt, names,
      st.compute));
}

// compressed-tensors' QuantizationConfig for the float-quantized FP8 weights written here
// (compressed_tensors/quantization/quant_config.py, quant_scheme.py): weights num_bits 8 type
// "float" symmetric, strategy "channel" or "tensor"; no activation quantization; the layers left
// dense under "ignore".
nlohmann::json compressed_tensors_config(const Cfg& c, const qrun::Model& model) {
  nlohmann::json ignore = nlohmann::json::array();
  for (const auto& n : model.linear_names())
    if (model.linear(n).kind() != "fp8") ignore.push_back(n);
  return {{"quant_method", "compressed-tensors"},
          {"format", "float-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", {{"num_bits", 8}, {"type", "float"}, {"symmetric", true}, {"strategy", c.granularity},
                           {"dynamic", false}, {"observer", "minmax"}}},
              {"input_activations", nullptr},
              {"output_activations", nullptr}}}}},
          {"ignore", ignore},
          {"kv_cache_scheme", nullptr}};
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"fp8", c.include, c.exclude, "fp8",
                                   {{"format", c.format}, {"granularity", c.granularity}}};
  auto rep = qrun::quant::quantize_model(model, req, [c](const std::string&, const at::Tensor& w, const at::Tensor& b,
                                                         c10::ScalarType ct) { return quantize(c, w, b, ct); }, ctx);
  // E5M2 weights have no compressed-tensors scheme: those checkpoints carry qrun's record only.
  if (rep && c.format == "e4m3") rep->details["quantization_config"] = compressed_tensors_config(c, model);
  return rep;
}

}  // namespace

QRUN_PLUGIN("fp8", "0.2.0",
            qrun::transform("fp8", schema, qrun::Role::quantizer,
                            "FP8 E4M3/E5M2 weights with per-tensor or per-channel amax scales", apply),
            qrun::linear_kind("fp8", "FP8 weight bytes with a float scale per tensor, channel or block "
                                     "(compressed-tensors float-quantized, vLLM/fbgemm fp8, transformers fp8)",
                              load, recognizes));
