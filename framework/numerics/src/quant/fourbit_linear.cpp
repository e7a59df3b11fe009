// FourBitLinear: bitsandbytes' Linear4bit (NF4/FP4) with packed storage; the forward dequantizes
// to the compute dtype and multiplies (MatMul4Bit's path; bitsandbytes' batch-1 gemv_4bit
// kernel sums in another order and is not reproduced).
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <tuple>
#include <utility>
#include <sstream>

namespace qrun::quant {

namespace {
std::int64_t nbytes(const at::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0;
}
at::Tensor float_table(const float* data, std::int64_t n) {
  return at::from_blob(const_cast<float*>(data), {n}, at::TensorOptions().dtype(at::kFloat)).clone();
}
std::string bnb_dtype_name(c10::ScalarType t) {
  // str(torch.dtype).strip("torch.") as QuantState.as_dict writes it
  switch (t) {
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return "float32";
  }
}
}  // namespace

at::Tensor FourBitWeight::absmax_f32() const { return dq ? double_dequantize_absmax(*dq) : q.absmax.to(at::kFloat); }

at::Tensor FourBitWeight::dequantize(c10::ScalarType dtype) const {
  return dequantize_4bit_codes(unpack_4bit(q.packed, q.numel()), absmax_f32(), q.blocksize, q.type, q.shape, dtype);
}

FourBitLinear::FourBitLinear(FourBitWeight w, at::Tensor bias, c10::ScalarType compute)
    : w_(std::move(w)), bias_(std::move(bias)), compute_(compute) {}

at::Tensor FourBitLinear::forward(const at::Tensor& x) const {
  // dequantize_4bit(B, quant_state) yields the original dtype; MatMul4Bit casts it to A's dtype.
  auto dequantized = [&] {
    return std::make_pair(w_.dequantize(w_.q.dtype).to(compute_), bias_.defined() ? bias_.to(compute_) : at::Tensor());
  };
  if (!w_.q.packed.is_cuda()) {
    auto [w, b] = dequantized();
    return at::linear(x.to(compute_), w, b).to(x.scalar_type());
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (!cached_weight_.defined()) std::tie(cached_weight_, cached_bias_) = dequantized();
  }
  return at::linear(x.to(compute_), cached_weight_, cached_bias_).to(x.scalar_type());
}

at::Tensor FourBitLinear::weight(c10::ScalarType dtype) const { return w_.dequantize(w_.q.dtype).to(dtype); }

at::Tensor FourBitLinear::bias() const { return bias_.defined() ? bias_.to(compute_) : at::Tensor(); }

StorageInfo FourBitLinear::storage() const {
  StorageInfo s;
  s.bytes = nbytes(w_.q.packed) + 16 * 4 + nbytes(bias_);
  if (w_.dq)
    s.bytes += nbytes(w_.dq->nested.codes) + nbytes(w_.dq->nested.absmax) + 4 + 256 * 4;
  else
    s.bytes += nbytes(w_.q.absmax);
  s.hf_footprint_bytes = nbytes(w_.q.packed) + nbytes(bias_);
  s.code_bits = 4;
  s.format = std::string(to_string(w_.q.type)) + (w_.dq ? " (double-quantized absmax)" : "");
  return s;
}

NamedTensors FourBitLinear::state() const {
  const auto& book = code_book(w_.q.type);
  NamedTensors out{{"weight", w_.q.packed}};
  nlohmann::json qs = {{"quant_type", std::string(to_string(w_.q.type))},
                       {"blocksize", w_.q.blocksize},
                       {"dtype", bnb_dtype_name(w_.q.dtype)},
                       {"shape", w_.q.shape}};
  if (w_.dq) {
    const auto& map = w_.dq->map;
    out.emplace_back("weight.absmax", w_.dq->nested.codes);
    out.emplace_back("weight.quant_map", float_table(book.data(), 16).to(w_.q.packed.device()));
    out.emplace_back("weight.nested_absmax", w_.dq->nested.absmax);
    out.emplace_back("weight.nested_quant_map", float_table(map.data(), 256).to(w_.q.packed.device()));
    qs["nested_blocksize"] = w_.dq->nested.blocksize;
    qs["nested_offset"] = static_cast<double>(w_.dq->offset);
  } else {
    out.emplace_back("weight.absmax", w_.q.absmax);
    out.emplace_back("weight.quant_map", float_table(book.data(), 16).to(w_.q.packed.device()));
  }
  const std::string text = qs.dump();
  at::Tensor blob = at::empty({static_cast<std::int64_t>(text.size())}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(blob.data_ptr<std::uint8_t>(), text.data(), text.size());
  out.emplace_back("weight.quant_state.bitsandbytes__" + std::string(to_string(w_.q.type)),
                   blob.to(w_.q.packed.device()));
  if (bias_.defined()) out.emplace_back("bias", bias_);
  return out;
}

std::shared_ptr<LinearImpl> FourBitLinear::clone_to(c10::Device device) const {
  FourBitWeight w = w_;
  w.q.packed = w_.q.packed.to(device, false, true);
  if (w_.q.absmax.defined()) w.q.absmax = w_.q.absmax.to(device, false, true);
  if (w_.dq) {
    w.dq->nested.codes = w_.dq->nested.codes.to(device, false, true);
    w.dq->nested.absmax = w_.dq->nested.absmax.to(device, false, true);
  }
  return std::make_shared<FourBitLinear>(std::move(w), bias_.defined() ? bias_.to(device, false, true) : at::Tensor(),
                                         compute_);
}

Result<FourBitWeight> quantize_four_bit_weight(const at::Tensor& weight, const FourBitConfig& config,
                                               const std::string& name) {
  if (!weight.defined() || weight.dim() != 2)
    return Error{name, "is not a 2-D weight [out, in] (got " + std::to_string(weight.defined() ? weight.dim() : 0) +
                           " dims)",
                 "quantize only linear-layer weights"};
  auto q = quantize_4bit(weight, config.type, config.blocksize, name);
  if (!q) return q.error();
  FourBitWeight w;
  w.q = std::move(*q);
  if (config.double_quant) {
    // quantize_4bit(compress_statistics=True): the absmax is replaced by its 8-bit codes
    w.dq = double_quantize_absmax(w.q.absmax);
    w.q.absmax = at::Tensor();
  }
  return w;
}

Result<std::shared_ptr<LinearImpl>> make_4bit_linear(const at::Tensor& weight, const at::Tensor& bias,
                                                     const FourBitConfig& config, c10::ScalarType compute,
                                                     const std::string& name) {
  auto w = quantize_four_bit_weight(weight, config, name + ".weight");
  if (!w) return w.error();
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(0)) {
      std::ostringstream os;
      os << bias.sizes();
      return Error{name + ".bias", "has shape " + os.str() + ", expected [" + std::to_string(weight.size(0)) + "]",
                   "give a bias with out_features entries"};
    }
    QRUN_TRY(check_finite(bias, name + ".bias"));
  }
  return std::shared_ptr<LinearImpl>(std::make_shared<FourBitLinear>(std::move(*w), bias, compute));
}

}  // namespace qrun::quant
