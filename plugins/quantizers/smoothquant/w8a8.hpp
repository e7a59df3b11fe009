// SmoothQuant's numerics (Xiao et al. 2023, "SmoothQuant: Accurate and Efficient Post-Training
// Quantization for Large Language Models"; reference mit-han-lab/smoothquant smoothquant/smooth.py
// and smoothquant/fake_quant.py), header only: the smoothquant plugin and tests/quant use it.
//
// Smoothing (smooth.py smooth_ln_fcs / smooth_ln_fcs_llama_like), per input channel j of the
// layers fed by one norm:
//   weight_scales_j = max(max over those layers of max_i |W[i, j]|, 1e-5)
//   s_j = max(max|X_j|^alpha / weight_scales_j^(1 - alpha), 1e-5)
// then norm.weight /= s and every layer's W[:, j] *= s (X diag(s)^-1 . diag(s) W^T = X W^T).
// max|X_j| is get_act_scales' running max of |input| per channel over the calibration tokens.
// Computed here in float32 (the reference computes in the weights' dtype, float16 there).
//
// W8A8 fake quantization (fake_quant.py W8A8Linear), symmetric, q_max = 127:
//   weights  per_channel: s = max(max_j |W[i, j]|, 1e-5) / 127 per row; per_tensor: one s
//            W' = round(W / s) * s (stored as int8 codes round(W / s) and float32 s)
//   inputs   per_token (dynamic): s = max(max_j |x[t, j]|, 1e-5) / 127 per token
//            per_tensor (dynamic): s = max(max |x|, 1e-5) / 127 over the whole input tensor
//            static: s = calibrated max|x| / 127 (get_static_decoder_layer_scales), values
//            clamped to [-128, 127] after rounding, as the int8 kernels do
//            x' = round(x / s) * s
//   y = x' W'^T + b; with quantize_output (the reference's quantize_bmm_input for q/k/v) y is
//   quantized again the same way. round is half to even (torch.round). All in float32.
#pragma once

#include <qrun/linear.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace qrun::smoothquant {

inline constexpr double kQMax = 127.0;
inline constexpr double kClampMin = 1e-5;

// act_max [in] (float), weights [out_k, in] -> s [in] float32.
inline at::Tensor smoothing_scales(const at::Tensor& act_max, const std::vector<at::Tensor>& weights, double alpha) {
  std::vector<at::Tensor> per_layer;
  for (const auto& w : weights) per_layer.push_back(std::get<0>(w.to(at::kFloat).abs().max(0, true)));
  const at::Tensor ws = std::get<0>(at::cat(per_layer, 0).max(0)).clamp_min(kClampMin);
  return (act_max.to(at::kFloat).pow(alpha) / ws.pow(1.0 - alpha)).clamp_min(kClampMin);
}

enum class Act { per_token, per_tensor, fixed };  // fixed: a static, calibrated scale

inline Act act_from_string(const std::string& s) {
  return s == "per_token" ? Act::per_token : s == "per_tensor" ? Act::per_tensor : Act::fixed;
}
inline std::string to_string(Act a) {
  return a == Act::per_token ? "per_token" : a == Act::per_tensor ? "per_tensor" : "static";
}

// x (any float dtype) -> x' float32 (fixed: with `scale` [1]).
inline at::Tensor quantize_activation(const at::Tensor& x, Act a, const at::Tensor& scale = {}) {
  const at::Tensor x32 = x.to(at::kFloat);
  if (a == Act::fixed) {
    const at::Tensor s = scale.to(x32.device(), at::kFloat).reshape({});
    return at::round(x32 / s).clamp(-128, 127) * s;
  }
  const at::Tensor amax = a == Act::per_token ? x32.abs().amax({-1}, true) : x32.abs().max();
  const at::Tensor s = amax.clamp_min(kClampMin) / kQMax;
  return at::round(x32 / s) * s;
}

struct WeightCodes {
  at::Tensor codes;  // int8 [out, in]
  at::Tensor scale;  // float32 [out, 1] (per_channel) or [1] (per_tensor)
};
inline WeightCodes quantize_weight(const at::Tensor& w, bool per_channel) {
  const at::Tensor w32 = w.to(at::kFloat);
  const at::Tensor amax = per_channel ? std::get<0>(w32.abs().max(1, true)) : w32.abs().max().reshape({1});
  const at::Tensor s = amax.clamp_min(kClampMin) / kQMax;
  return {at::round(w32 / s).to(at::kChar), s};
}

class W8A8Linear final : public LinearImpl {
 public:
  // input_scale / output_scale: [1] float32 when act is fixed (output_scale only with
  // quantize_output), else undefined.
  W8A8Linear(at::Tensor codes, at::Tensor w_scale, at::Tensor bias, Act act, bool quantize_output, at::Tensor input_scale,
             at::Tensor output_scale, c10::ScalarType compute)
      : q_(codes), s_(w_scale), b_(bias), act_(act), qout_(quantize_output), in_s_(input_scale), out_s_(output_scale),
        compute_(compute) {}

  std::string kind() const override { return "w8a8"; }
  std::int64_t in_features() const override { return q_.size(1); }
  std::int64_t out_features() const override { return q_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override { return (q_.to(at::kFloat) * s_.to(at::kFloat)).to(dt); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  at::Tensor forward(const at::Tensor& x) const override {
    const at::Tensor xq = quantize_activation(x, act_, in_s_);
    at::Tensor y = at::linear(xq, weight(at::kFloat), b_.defined() ? b_.to(at::kFloat) : at::Tensor());
    if (qout_) y = quantize_activation(y, act_, out_s_);
    return y.to(x.scalar_type());
  }
  bool graph_safe(std::int64_t rows) const override { return rows >= 0; }  // device ops only
  StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0; };
    const std::int64_t bytes = nb(q_) + nb(s_) + nb(b_) + nb(in_s_) + nb(out_s_);
    return {bytes, bytes, 8, std::string("w8a8 int8 ") + (s_.numel() == 1 ? "per-tensor" : "per-channel") + " a8 " +
                                 to_string(act_)};
  }
  NamedTensors state() const override {
    NamedTensors t{{"weight", q_}, {"weight_scale", s_}};
    if (in_s_.defined()) t.emplace_back("input_scale", in_s_);
    if (out_s_.defined()) t.emplace_back("output_scale", out_s_);
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    return {{"act_quant", to_string(act_)}, {"quantize_output", qout_}, {"shape", {q_.size(0), q_.size(1)}}};
  }
  std::shared_ptr<LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<W8A8Linear>(mv(q_), mv(s_), mv(b_), act_, qout_, mv(in_s_), mv(out_s_), compute_);
  }

 private:
  at::Tensor q_, s_, b_;
  Act act_;
  bool qout_;
  at::Tensor in_s_, out_s_;
  c10::ScalarType compute_;
};

}  // namespace qrun::smoothquant
