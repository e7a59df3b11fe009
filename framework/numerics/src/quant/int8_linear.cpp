// Int8Linear: bitsandbytes' Linear8bitLt (inference, has_fp16_weights=False) with int8 storage.
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>

#include <sstream>

namespace qrun::quant {

namespace {
std::int64_t nbytes(const at::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0;
}
std::string shape_string(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}
}  // namespace

Int8Linear::Int8Linear(Int8Rows weight, at::Tensor bias, double threshold, c10::ScalarType compute)
    : cb_(std::move(weight.codes)), scb_(std::move(weight.absmax)), bias_(std::move(bias)), threshold_(threshold),
      compute_(compute) {}

at::Tensor Int8Linear::forward(const at::Tensor& x) const {
  return int8_mixed_linear(x, cb_, scb_, bias_, threshold_);
}

at::Tensor Int8Linear::weight(c10::ScalarType dtype) const { return int8_vectorwise_dequant(cb_, scb_).to(dtype); }

at::Tensor Int8Linear::bias() const { return bias_.defined() ? bias_.to(compute_) : at::Tensor(); }

StorageInfo Int8Linear::storage() const {
  StorageInfo s;
  s.bytes = nbytes(cb_) + nbytes(scb_) + nbytes(bias_);
  s.hf_footprint_bytes = nbytes(cb_) + nbytes(bias_);
  s.code_bits = 8;
  s.format = "int8";
  return s;
}

bool Int8Linear::graph_safe(std::int64_t rows) const { return int8_forward_graph_safe(rows, cb_.device(), in_features()); }

// [this; siblings]: stacked CB, SCB and bias, one threshold. Each output row is computed as
// before, from the same activation quantization (its row of CB and its SCB).
std::shared_ptr<LinearImpl> Int8Linear::merge_with(const std::vector<const LinearImpl*>& siblings) const {
  std::vector<const Int8Linear*> all{this};
  for (const LinearImpl* l : siblings) {
    const auto* x = dynamic_cast<const Int8Linear*>(l);
    if (!x || x->threshold_ != threshold_ || x->in_features() != in_features()) return nullptr;
    all.push_back(x);
  }
  std::vector<at::Tensor> cb, scb, bs;
  bool any_bias = false;
  for (const Int8Linear* x : all) {
    cb.push_back(x->cb_);
    scb.push_back(x->scb_);
    any_bias = any_bias || x->bias_.defined();
  }
  at::Tensor bias;
  if (any_bias) {
    at::TensorOptions opts;
    for (const Int8Linear* x : all)
      if (x->bias_.defined()) opts = x->bias_.options();
    for (const Int8Linear* x : all) bs.push_back(x->bias_.defined() ? x->bias_ : at::zeros({x->out_features()}, opts));
    bias = at::cat(bs, 0);
  }
  Int8Rows rows{at::cat(cb, 0), at::cat(scb, 0), at::Tensor()};
  return std::make_shared<Int8Linear>(std::move(rows), bias, threshold_, compute_);
}

NamedTensors Int8Linear::state() const {
  NamedTensors out{{"weight", cb_}, {"SCB", scb_},
                   {"int8_threshold", at::full({1}, threshold_, cb_.options().dtype(at::kFloat))}};
  if (bias_.defined()) out.emplace_back("bias", bias_);
  return out;
}

std::shared_ptr<LinearImpl> Int8Linear::clone_to(c10::Device device) const {
  Int8Rows w{cb_.to(device, false, true), scb_.to(device, false, true), at::Tensor()};
  return std::make_shared<Int8Linear>(std::move(w), bias_.defined() ? bias_.to(device, false, true) : at::Tensor(),
                                      threshold_, compute_);
}

Result<std::shared_ptr<LinearImpl>> make_int8_linear(const at::Tensor& weight, const at::Tensor& bias,
                                                     double threshold, c10::ScalarType compute,
                                                     const std::string& name) {
  if (threshold < 0)
    return Error{name + " threshold", std::to_string(threshold) + " is negative",
                 "use 0 (no outlier decomposition) or a positive value such as 6.0"};
  auto q = int8_quantize_weight(weight, name + ".weight");
  if (!q) return q.error();
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(0))
      return Error{name + ".bias", "has shape " + shape_string(bias) + ", expected [" +
                                       std::to_string(weight.size(0)) + "]",
                   "give a bias with out_features entries"};
    QRUN_TRY(check_finite(bias, name + ".bias"));
  }
  Int8Rows w = std::move(*q);
  w.outlier_cols = at::Tensor();
  return std::shared_ptr<LinearImpl>(std::make_shared<Int8Linear>(std::move(w), bias, threshold, compute));
}

}  // namespace qrun::quant
