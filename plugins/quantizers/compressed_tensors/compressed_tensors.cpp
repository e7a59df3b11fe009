// compressed_tensors: loads the integer layers of compressed-tensors' "pack-quantized" format
// (llm-compressor's W4A16/W8A16 checkpoints; neuralmagic/compressed-tensors
// compressors/quantized_compressors/pack_quantized.py and utils pack_to_int32). A linear kind
// only (qrun's own integer quantizers are rtn, gptq, awq). Per layer:
//   weight_packed      int32 [out, ceil(in * b / 32)]: the signed codes plus 2^(b-1), as one
//                      little-endian bitstream per row (code j at bits [j*b, (j+1)*b); for 4 and 8
//                      bits: code j at bits b*(j % (32/b)) of word j / (32/b))
//   weight_scale       float [out, groups] (float16 / bfloat16 / float32)
//   weight_zero_point  int32 [ceil(out * b / 32), groups], asymmetric only: signed zero points
//                      plus 2^(b-1), packed the same way along the output dimension
//   weight_g_idx       int32 [in], optional (activation ordering): the group of each column
//   weight_shape       int [2] = [out, in]
// W[o, c] = (q[o, c] - zp[o, g(c)]) * scale[o, g(c)], g(c) = g_idx[c] or c / (in / groups).
// b is not stored; it is ceil-divided out of weight_packed's width: b = 32 * words / in when
// that is an integer (the config's num_bits agrees for every width compressed-tensors writes).
#include "../gptq/gptq_format.hpp"

#include <qrun/plugin.hpp>

#include <ATen/ATen.h>

#include <set>

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// A dense bitstream [rows, ceil(n*b/32)] -> codes [rows, n] (unsigned), via GPTQ's unpacking of
// 32 codes per `b` words (the stream is the same; pad the words to a multiple of b).
at::Tensor unpack_stream(const at::Tensor& words, int bits, std::int64_t n) {
  const std::int64_t need = ceil_div(n, 32) * bits;
  const at::Tensor w = at::constant_pad_nd(words, {0, need - words.size(1)});
  return qrun::gptq::unpack_rows(w.t().contiguous(), bits, n).t();
}

class CtIntLinear final : public qrun::LinearImpl {
 public:
  CtIntLinear(qrun::NamedTensors state, at::Tensor codes, at::Tensor zp, at::Tensor scale, at::Tensor gidx, at::Tensor bias,
              int bits, c10::ScalarType compute)
      : state_(std::move(state)), q_(codes), zp_(zp), s_(scale), g_(gidx), b_(bias), bits_(bits), compute_(compute) {}
  std::string kind() const override { return "ct_pack_quantized"; }
  std::int64_t in_features() const override { return q_.size(1); }
  std::int64_t out_features() const override { return q_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override {
    const at::Tensor z = zp_.defined() ? zp_.index_select(1, g_).to(at::kFloat) : at::zeros({1}, q_.options().dtype(at::kFloat));
    return ((q_.to(at::kFloat) - z) * s_.to(at::kFloat).index_select(1, g_)).to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    std::int64_t bytes = 0;
    for (const auto& [n, t] : state_) bytes += t.numel() * static_cast<std::int64_t>(t.element_size());
    return {bytes, bytes, bits_, "compressed-tensors int" + std::to_string(bits_) + (zp_.defined() ? " asym" : " sym")};
  }
  qrun::NamedTensors state() const override { return state_; }
  nlohmann::json metadata() const override { return {{"bits", bits_}}; }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    qrun::NamedTensors st;
    for (const auto& [n, t] : state_) st.emplace_back(n, mv(t));
    return std::make_shared<CtIntLinear>(st, mv(q_), mv(zp_), mv(s_), mv(g_), mv(b_), bits_, compute_);
  }

 private:
  qrun::NamedTensors state_;  // as stored, written back unchanged
  at::Tensor q_, zp_, s_, g_, b_;
  int bits_;
  c10::ScalarType compute_;
};

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  for (const char* need : {"weight_packed", "weight_scale", "weight_shape"})
    if (!have.count(need)) return false;
  for (const auto& s : have)
    if (s != "weight_packed" && s != "weight_scale" && s != "weight_shape" && s != "weight_zero_point" &&
        s != "weight_g_idx" && s != "bias")
      return false;
  return true;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor p, st.get("weight_packed"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("weight_scale"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor shape, st.get("weight_shape"));
  const at::Tensor zp = st.find("weight_zero_point"), gidx = st.find("weight_g_idx");
  const qrun::Error bad{st.name, "compressed-tensors pack-quantized tensors disagree (weight_packed, weight_scale, "
                                 "weight_shape, weight_zero_point)",
                        "load a checkpoint written by llm-compressor with format pack-quantized",
                        qrun::ErrorCode::corrupt_input};
  if (shape.numel() != 2 || p.dim() != 2 || p.scalar_type() != at::kInt || s.dim() != 2) return bad;
  const std::int64_t out = shape[0].item<std::int64_t>(), in = shape[1].item<std::int64_t>(), groups = s.size(1);
  int bits = 0;
  for (int b = 1; b <= 8; ++b)
    if (ceil_div(in * b, 32) == p.size(1)) bits = b;  // the largest width with this many words
  if (bits == 0 || p.size(0) != out || s.size(0) != out || groups < 1) return bad;
  const std::int64_t offset = std::int64_t{1} << (bits - 1);
  at::Tensor q = unpack_stream(p, bits, in) - offset;  // signed codes [out, in]
  at::Tensor z;
  if (zp.defined()) {
    if (zp.dim() != 2 || zp.size(1) != groups || zp.size(0) != ceil_div(out * bits, 32)) return bad;
    z = unpack_stream(zp.to(at::kInt).t().contiguous(), bits, out).t() - offset;  // [out, groups]
  }
  at::Tensor g = gidx.defined() ? gidx.to(at::kLong)
                                : at::arange(in, at::TensorOptions().dtype(at::kLong)).div(ceil_div(in, groups), "floor");
  if (g.numel() != in || g.min().item<std::int64_t>() < 0 || g.max().item<std::int64_t>() >= groups) return bad;
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<CtIntLinear>(
      st.tensors, d(q), d(z), d(s), d(g), d(st.find("bias")), bits, st.compute));
}

}  // namespace

QRUN_PLUGIN("compressed_tensors", "0.1.0",
            qrun::linear_kind("ct_pack_quantized",
                              "compressed-tensors pack-quantized int1-int8 (weight_packed, weight_scale, weight_shape)",
                              load, recognizes));
