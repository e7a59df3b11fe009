// Rebuilding linear layers from checkpoint tensors (names in qrun/quant/quant_linear.hpp), with
// every tensor's dtype, shape and code book checked: a checkpoint is untrusted input.
#include <qrun/quant/quant_linear.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

namespace qrun::quant {

namespace {

std::string shape_string(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

class StateView {
 public:
  StateView(const NamedTensors& state, std::string name) : name_(std::move(name)) {
    for (const auto& [suffix, t] : state) map_[suffix] = t;
  }
  std::string thing(const std::string& suffix) const { return name_ + "." + suffix; }
  bool has(const std::string& suffix) const { return map_.count(suffix) > 0; }
  // The tensor, checked for dtype and shape (an empty `shape` skips the shape check).
  Result<at::Tensor> get(const std::string& suffix, c10::ScalarType dtype, const std::vector<std::int64_t>& shape) const {
    auto it = map_.find(suffix);
    if (it == map_.end())
      return Error{thing(suffix), "is missing", "write the checkpoint with `qrun quantize` (names in plugins/quantizers/README.md)",
                   ErrorCode::not_found};
    const at::Tensor& t = it->second;
    if (!t.defined() || t.scalar_type() != dtype)
      return Error{thing(suffix), std::string("has dtype ") + (t.defined() ? c10::toString(t.scalar_type()) : "none") +
                                      ", expected " + c10::toString(dtype),
                   "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
    if (!shape.empty() && t.sizes().vec() != shape) {
      std::ostringstream want;
      want << at::IntArrayRef(shape);
      return Error{thing(suffix), "has shape " + shape_string(t) + ", expected " + want.str(),
                   "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
    }
    return t;
  }
  Result<void> only(const std::vector<std::string>& allowed) const {
    for (const auto& [suffix, t] : map_) {
      bool ok = false;
      for (const auto& a : allowed) ok = ok || a == suffix;
      if (!ok)
        return Error{thing(suffix), "is not a tensor of this layer kind", "remove it or rewrite the checkpoint with `qrun quantize`",
                     ErrorCode::corrupt_input};
    }
    return {};
  }
  Result<at::Tensor> bias(std::int64_t out) const {
    if (!has("bias")) return at::Tensor();
    auto it = map_.find("bias");
    const at::Tensor& b = it->second;
    if (!b.defined() || !at::isFloatingType(b.scalar_type()) || b.dim() != 1 || b.size(0) != out)
      return Error{thing("bias"), "has shape " + shape_string(b) + ", expected a float [" + std::to_string(out) + "]",
                   "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
    QRUN_TRY(check_finite(b, thing("bias")));
    return b;
  }

 private:
  std::string name_;
  std::map<std::string, at::Tensor> map_;
};

Result<void> check_table(const StateView& v, const std::string& suffix, const float* expected, std::int64_t n,
                         const std::string& what) {
  auto t = v.get(suffix, at::kFloat, {n});
  if (!t) return t.error();
  at::Tensor c = t->to(at::kCPU).contiguous();
  if (std::memcmp(c.data_ptr<float>(), expected, static_cast<std::size_t>(n) * sizeof(float)) != 0)
    return Error{v.thing(suffix), "differs from bitsandbytes' " + what, "write the checkpoint with `qrun quantize`",
                 ErrorCode::corrupt_input};
  return {};
}

Result<std::shared_ptr<LinearImpl>> int8_from_state(const StateView& v, c10::ScalarType compute, c10::Device device) {
  QRUN_TRY(v.only({"weight", "SCB", "int8_threshold", "bias"}));
  auto cb = v.get("weight", at::kChar, {});
  if (!cb) return cb.error();
  if (cb->dim() != 2 || cb->numel() == 0)
    return Error{v.thing("weight"), "has shape " + shape_string(*cb) + ", expected a non-empty [out, in]",
                 "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
  const std::int64_t out = cb->size(0);
  auto scb = v.get("SCB", at::kFloat, {out});
  if (!scb) return scb.error();
  QRUN_TRY(check_finite(*scb, v.thing("SCB")));
  if ((*scb < 0).any().item<bool>())
    return Error{v.thing("SCB"), "has negative row absmax values", "rewrite the checkpoint with `qrun quantize`",
                 ErrorCode::corrupt_input};
  double threshold = kDefaultInt8Threshold;
  if (v.has("int8_threshold")) {
    auto th = v.get("int8_threshold", at::kFloat, {1});
    if (!th) return th.error();
    threshold = th->item<float>();
    if (!(threshold >= 0))
      return Error{v.thing("int8_threshold"), "is negative or NaN", "use 0 or a positive threshold"};
  }
  auto bias = v.bias(out);
  if (!bias) return bias.error();
  Int8Rows w{cb->to(device, false, true), scb->to(device, false, true), at::Tensor()};
  return std::shared_ptr<LinearImpl>(std::make_shared<Int8Linear>(
      std::move(w), bias->defined() ? bias->to(device, false, true) : at::Tensor(), threshold, compute));
}

Result<c10::ScalarType> parse_bnb_dtype(const std::string& s, const std::string& thing) {
  if (s == "float16") return at::kHalf;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float32") return at::kFloat;
  return Error{thing, "dtype \"" + s + "\" is not float16, bfloat16 or float32", "rewrite the checkpoint with `qrun quantize`",
               ErrorCode::corrupt_input};
}

Result<std::shared_ptr<LinearImpl>> four_bit_from_state(FourBit type, const StateView& v, c10::ScalarType compute,
                                                        c10::Device device) {
  const std::string qs_name = "weight.quant_state.bitsandbytes__" + std::string(to_string(type));
  QRUN_TRY(v.only({"weight", "weight.absmax", "weight.quant_map", "weight.nested_absmax", "weight.nested_quant_map",
                   qs_name, "bias"}));
  auto blob = v.get(qs_name, at::kByte, {});
  if (!blob) return blob.error();
  at::Tensor bytes = blob->to(at::kCPU).contiguous();
  const std::string text(reinterpret_cast<const char*>(bytes.data_ptr<std::uint8_t>()),
                         static_cast<std::size_t>(bytes.numel()));
  FourBitWeight w;
  std::int64_t nested_blocksize = 0;
  double nested_offset = 0;
  bool nested = false;
  std::string dtype_name;
  try {
    const nlohmann::json qs = nlohmann::json::parse(text);
    if (qs.at("quant_type").get<std::string>() != to_string(type))
      return Error{v.thing(qs_name), "quant_type is \"" + qs.at("quant_type").get<std::string>() + "\"",
                   "load the layer with the kind its quant_state names"};
    w.q.blocksize = qs.at("blocksize").get<std::int64_t>();
    w.q.shape = qs.at("shape").get<std::vector<std::int64_t>>();
    dtype_name = qs.at("dtype").get<std::string>();
    nested = qs.contains("nested_offset");
    if (nested) {
      nested_blocksize = qs.at("nested_blocksize").get<std::int64_t>();
      nested_offset = qs.at("nested_offset").get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    return Error{v.thing(qs_name), std::string("is not a valid bitsandbytes quant_state: ") + e.what(),
                 "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
  }
  w.q.type = type;
  QRUN_TRY(check_blocksize_4bit(w.q.blocksize, v.thing(qs_name) + " blocksize"));
  auto dt = parse_bnb_dtype(dtype_name, v.thing(qs_name));
  if (!dt) return dt.error();
  w.q.dtype = *dt;
  if (w.q.shape.size() != 2 || w.q.shape[0] <= 0 || w.q.shape[1] <= 0)
    return Error{v.thing(qs_name), "shape is not a non-empty [out, in]", "rewrite the checkpoint with `qrun quantize`",
                 ErrorCode::corrupt_input};
  const std::int64_t n = w.q.numel();
  const std::int64_t blocks = (n + w.q.blocksize - 1) / w.q.blocksize;
  auto packed = v.get("weight", at::kByte, {(n + 1) / 2, 1});
  if (!packed) return packed.error();
  w.q.packed = packed->to(device, false, true);
  QRUN_TRY(check_table(v, "weight.quant_map", code_book(type).data(), 16, std::string(to_string(type)) + " code book"));
  if (nested) {
    if (nested_blocksize <= 0)
      return Error{v.thing(qs_name), "nested_blocksize is not positive", "rewrite the checkpoint with `qrun quantize`",
                   ErrorCode::corrupt_input};
    const float offset = static_cast<float>(nested_offset);
    if (!std::isfinite(offset) || static_cast<double>(offset) != nested_offset)
      return Error{v.thing(qs_name), "nested_offset is not a finite float32 value", "rewrite the checkpoint with `qrun quantize`",
                   ErrorCode::corrupt_input};
    auto codes = v.get("weight.absmax", at::kByte, {blocks});
    if (!codes) return codes.error();
    auto nabs = v.get("weight.nested_absmax", at::kFloat, {(blocks + nested_blocksize - 1) / nested_blocksize});
    if (!nabs) return nabs.error();
    QRUN_TRY(check_finite(*nabs, v.thing("weight.nested_absmax")));
    auto map = v.get("weight.nested_quant_map", at::kFloat, {256});
    if (!map) return map.error();
    DoubleQuantAbsmax dq;
    {
      // bitsandbytes dequantizes with the stored map; accept it when it is create_dynamic_map's up
      // to float32 rounding (torch versions may differ in the last ulp of linspace).
      at::Tensor m = map->to(at::kCPU).contiguous();
      const float* mp = m.data_ptr<float>();
      const auto& ref = dynamic_map_signed();
      for (std::size_t i = 0; i < 256; ++i) {
        if (!(std::fabs(mp[i] - ref[i]) <= 1e-6f * std::fabs(ref[i])))
          return Error{v.thing("weight.nested_quant_map"), "differs from bitsandbytes' dynamic map at index " +
                                                               std::to_string(i),
                       "write the checkpoint with `qrun quantize`"};
        dq.map[i] = mp[i];
      }
    }
    dq.nested.codes = codes->to(device, false, true);
    dq.nested.absmax = nabs->to(device, false, true);
    dq.nested.blocksize = nested_blocksize;
    dq.offset = offset;
    w.dq = std::move(dq);
  } else {
    if (v.has("weight.nested_absmax") || v.has("weight.nested_quant_map"))
      return Error{v.thing(qs_name), "has no nested_offset but nested tensors are present",
                   "rewrite the checkpoint with `qrun quantize`", ErrorCode::corrupt_input};
    auto absmax = v.get("weight.absmax", at::kFloat, {blocks});
    if (!absmax) return absmax.error();
    QRUN_TRY(check_finite(*absmax, v.thing("weight.absmax")));
    w.q.absmax = absmax->to(device, false, true);
  }
  auto bias = v.bias(w.q.shape[0]);
  if (!bias) return bias.error();
  return std::shared_ptr<LinearImpl>(std::make_shared<FourBitLinear>(
      std::move(w), bias->defined() ? bias->to(device, false, true) : at::Tensor(), compute));
}

}  // namespace

Result<std::shared_ptr<LinearImpl>> load_int8_linear(const LinearState& state) {
  return int8_from_state(StateView(state.tensors, state.name), state.compute, state.device);
}

Result<std::shared_ptr<LinearImpl>> load_4bit_linear(FourBit type, const LinearState& state) {
  return four_bit_from_state(type, StateView(state.tensors, state.name), state.compute, state.device);
}

bool recognizes_int8(const std::vector<std::string>& suffixes) {
  return std::find(suffixes.begin(), suffixes.end(), "SCB") != suffixes.end();
}

bool recognizes_4bit(FourBit type, const std::vector<std::string>& suffixes) {
  const std::string qs = "weight.quant_state.bitsandbytes__" + std::string(to_string(type));
  return std::find(suffixes.begin(), suffixes.end(), qs) != suffixes.end();
}

std::string linear_kind_of_state(const std::vector<std::string>& suffixes) {
  for (const auto& s : suffixes) {
    if (s == "SCB") return "int8";
    if (s == "weight.quant_state.bitsandbytes__nf4") return "nf4";
    if (s == "weight.quant_state.bitsandbytes__fp4") return "fp4";
  }
  return "dense";
}

Result<std::shared_ptr<LinearImpl>> make_linear_from_state(const std::string& kind, const NamedTensors& state,
                                                           c10::ScalarType compute, c10::Device device,
                                                           const std::string& name) {
  StateView v(state, name);
  if (kind == "int8") return int8_from_state(v, compute, device);
  if (auto t = parse_four_bit(kind)) return four_bit_from_state(*t, v, compute, device);
  if (kind == "dense") {
    QRUN_TRY(v.only({"weight", "bias"}));
    if (!v.has("weight")) return Error{v.thing("weight"), "is missing", "give the layer's weight"};
    at::Tensor w;
    for (const auto& [s, t] : state)
      if (s == "weight") w = t;
    if (!w.defined() || w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
      return Error{v.thing("weight"), "is not a floating 2-D tensor", "give a [out, in] float weight"};
    auto bias = v.bias(w.size(0));
    if (!bias) return bias.error();
    return make_dense_linear(w.to(device), bias->defined() ? bias->to(device) : at::Tensor(), compute);
  }
  return Error{name, "layer kind \"" + kind + "\" is unknown", "use one of dense, int8, nf4, fp4"};
}

}  // namespace qrun::quant
