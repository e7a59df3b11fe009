// The GPTQ checkpoint format (AutoGPTQ's QuantLinear): see gptq_format.hpp.
#include "gptq_format.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

namespace qrun::gptq {

namespace {

constexpr std::int64_t kWord = 32;

// Wraps values in [0, 2^32) into int32 as numpy's uint32 -> int32 astype does.
at::Tensor to_int32_bits(const at::Tensor& words) {
  const std::int64_t two31 = std::int64_t{1} << 31, two32 = std::int64_t{1} << 32;
  return at::where(words >= two31, words - two32, words).to(at::kInt);
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

at::Tensor pack_rows(const at::Tensor& codes, int bits) {
  const std::int64_t n = codes.size(0), m = codes.size(1), n32 = ceil_div(n, kWord);
  at::Tensor c = at::zeros({n32 * kWord, m}, codes.options().dtype(at::kLong));
  c.slice(0, 0, n).copy_(codes);
  const auto opt = c.options();
  if (kWord % bits == 0) {  // 2, 4, 8: whole codes per word, code j at bits*j
    const std::int64_t per = kWord / bits;
    const at::Tensor shifts = at::arange(per, opt).mul(bits).view({1, per, 1});
    return to_int32_bits(c.view({n32 * bits, per, m}).bitwise_left_shift(shifts).sum(1));
  }
  // Any width: the 32 codes as one little-endian stream of 32*bits bits over `bits` words.
  const at::Tensor planes = c.view({n32, kWord, 1, m}).bitwise_right_shift(at::arange(bits, opt).view({1, 1, bits, 1}))
                                .bitwise_and(1)
                                .reshape({n32, bits, kWord, m});
  const at::Tensor words = planes.bitwise_left_shift(at::arange(kWord, opt).view({1, 1, kWord, 1})).sum(2);
  return to_int32_bits(words.reshape({n32 * bits, m}));
}

at::Tensor unpack_rows(const at::Tensor& packed, int bits, std::int64_t n) {
  const std::int64_t m = packed.size(1), n32 = packed.size(0) / bits;
  const at::Tensor w = packed.to(at::kLong).bitwise_and(static_cast<std::int64_t>(0xffffffffLL));
  const auto opt = w.options();
  if (kWord % bits == 0) {
    const std::int64_t per = kWord / bits;
    const at::Tensor shifts = at::arange(per, opt).mul(bits).view({1, per, 1});
    return w.view({n32 * bits, 1, m}).bitwise_right_shift(shifts).bitwise_and((1 << bits) - 1)
        .reshape({n32 * kWord, m}).slice(0, 0, n);
  }
  const at::Tensor planes = w.view({n32, bits, 1, m}).bitwise_right_shift(at::arange(kWord, opt).view({1, 1, kWord, 1}))
                                .bitwise_and(1)
                                .reshape({n32, kWord, bits, m});
  return planes.bitwise_left_shift(at::arange(bits, opt).view({1, 1, bits, 1})).sum(2).reshape({n32 * kWord, m}).slice(0, 0, n);
}

GptqLinear::GptqLinear(at::Tensor qweight, at::Tensor qzeros, at::Tensor scales, at::Tensor g_idx, at::Tensor bias,
                       GptqFormat f, std::int64_t out, std::int64_t in, c10::ScalarType compute)
    : qw_(std::move(qweight)), qz_(std::move(qzeros)), s_(std::move(scales)), g_(std::move(g_idx)), b_(std::move(bias)),
      f_(f), out_(out), in_(in), compute_(compute) {}

std::shared_ptr<GptqLinear> GptqLinear::from_codes(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                                                   const at::Tensor& g_idx, const at::Tensor& bias, GptqFormat f,
                                                   c10::ScalarType compute) {
  const std::int64_t out = codes.size(0), in = codes.size(1);
  const std::int64_t maxq = (std::int64_t{1} << f.bits) - 1;
  // qzeros: v1 stores zero - 1 as uint32 bits (-1 wraps to all ones, masked to `bits` on reading).
  at::Tensor z = zeros.to(at::kLong).t().contiguous();  // [groups, out]
  if (!f.v2) z = (z - 1).bitwise_and(maxq);
  at::Tensor qzeros = pack_rows(z.t().contiguous(), f.bits).t().contiguous();
  at::Tensor qweight = pack_rows(codes.to(at::kLong).t().contiguous(), f.bits);
  at::Tensor b = bias.defined() ? bias.to(at::kHalf) : bias;
  return std::make_shared<GptqLinear>(qweight, qzeros, scales.t().contiguous().to(at::kHalf), g_idx.to(at::kInt), b, f,
                                      out, in, compute);
}

at::Tensor GptqLinear::codes() const { return unpack_rows(qw_, f_.bits, in_).t(); }

at::Tensor GptqLinear::zero_points() const {
  at::Tensor z = unpack_rows(qz_.t().contiguous(), f_.bits, out_).t();  // [groups, out]
  if (!f_.v2) z = (z + 1).bitwise_and((std::int64_t{1} << f_.bits) - 1);  // v1: stored zero - 1
  return z;
}

at::Tensor GptqLinear::weight(c10::ScalarType dtype) const {
  const at::Tensor g = g_.to(at::kLong);
  const at::Tensor q = unpack_rows(qw_, f_.bits, in_);  // [in, out]
  const at::Tensor z = zero_points().index_select(0, g);
  const at::Tensor w = s_.to(at::kFloat).index_select(0, g) * (q - z).to(at::kFloat);
  return w.t().contiguous().to(dtype);
}

at::Tensor GptqLinear::forward(const at::Tensor& x) const { return at::linear(x, weight(x.scalar_type()), bias()); }

StorageInfo GptqLinear::storage() const {
  auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0; };
  const std::int64_t bytes = nb(qw_) + nb(qz_) + nb(s_) + nb(g_) + nb(b_);
  std::string fmt = "gptq int" + std::to_string(f_.bits) + (f_.sym ? " sym" : " asym") +
                    (f_.group_size == -1 ? std::string(" per-row") : " g" + std::to_string(f_.group_size)) +
                    (f_.desc_act ? " desc_act" : "");
  return {bytes, bytes, f_.bits, fmt};
}

NamedTensors GptqLinear::state() const {
  NamedTensors t{{"qweight", qw_}, {"qzeros", qz_}, {"scales", s_}, {"g_idx", g_}};
  if (b_.defined()) t.emplace_back("bias", b_);
  return t;
}

nlohmann::json GptqLinear::metadata() const {
  return {{"bits", f_.bits}, {"group_size", f_.group_size}, {"sym", f_.sym}, {"desc_act", f_.desc_act},
          {"checkpoint_format", f_.v2 ? "gptq_v2" : "gptq"}, {"shape", {out_, in_}}};
}

std::shared_ptr<LinearImpl> GptqLinear::clone_to(c10::Device d) const {
  auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
  return std::make_shared<GptqLinear>(mv(qw_), mv(qz_), mv(s_), mv(g_), mv(b_), f_, out_, in_, compute_);
}

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  for (const char* need : {"qweight", "qzeros", "scales", "g_idx"})
    if (!have.count(need)) return false;
  for (const auto& s : have)
    if (s != "qweight" && s != "qzeros" && s != "scales" && s != "g_idx" && s != "bias") return false;
  return true;
}

Result<std::shared_ptr<LinearImpl>> load(const LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor qw, st.get("qweight"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor qz, st.get("qzeros"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("scales"));
  at::Tensor g = st.find("g_idx");
  const Error bad{st.name, "GPTQ tensors and metadata disagree (qweight, qzeros, scales, g_idx shapes)",
                  "load a checkpoint written by AutoGPTQ, GPTQModel or qrun quantize", ErrorCode::corrupt_input};
  if (qw.dim() != 2 || qz.dim() != 2 || s.dim() != 2 || qw.scalar_type() != at::kInt || qz.scalar_type() != at::kInt)
    return bad;
  GptqFormat f;
  const std::int64_t out = s.size(1), groups = s.size(0);
  std::int64_t in = 0;
  const nlohmann::json& m = st.metadata;
  if (m.contains("bits")) {  // written by qrun
    f.bits = m.value("bits", 0), f.group_size = m.value("group_size", std::int64_t{-1});
    f.sym = m.value("sym", true), f.desc_act = m.value("desc_act", false);
    f.v2 = m.value("checkpoint_format", std::string("gptq")) == "gptq_v2";
    in = g.defined() ? g.size(0) : 0;
  } else {  // a published checkpoint: widths from the shapes; zeros v1 (AutoGPTQ's stored zero − 1)
            // unless the folder's quantization_config says checkpoint_format "gptq_v2" (GPTQModel)
    const nlohmann::json qc = m.value("quantization_config", nlohmann::json::object());
    const std::string fmt = qc.is_object() ? qc.value("checkpoint_format", std::string("gptq")) : "gptq";
    if (fmt != "gptq" && fmt != "gptq_v2")
      return Error{st.name, "quantization_config checkpoint_format \"" + fmt + "\" is not gptq or gptq_v2",
                   "load a GPTQ checkpoint in AutoGPTQ's (v1) or GPTQModel's (v2) format", ErrorCode::unsupported};
    f.v2 = fmt == "gptq_v2";
    if (out % kWord == 0 && (qz.size(1) * kWord) % out == 0) f.bits = static_cast<int>(qz.size(1) * kWord / out);
    if (g.defined()) in = g.size(0);
    else if (f.bits > 0) in = qw.size(0) / f.bits * kWord;
    if (f.bits == 0 && in > 0) f.bits = static_cast<int>(qw.size(0) / ceil_div(in, kWord));
    f.group_size = groups == 1 ? -1 : (in % groups == 0 ? in / groups : -1);
  }
  if (f.bits != 2 && f.bits != 3 && f.bits != 4 && f.bits != 8) return bad;
  if (in <= 0 || qw.size(0) != ceil_div(in, kWord) * f.bits || qw.size(1) != out ||
      qz.size(0) != groups || qz.size(1) != ceil_div(out, kWord) * f.bits)
    return bad;
  if (!g.defined()) {  // old GPTQ-for-LLaMa files: contiguous groups
    const std::int64_t gs = ceil_div(in, groups);
    g = at::arange(in, at::TensorOptions().dtype(at::kLong)).div(gs, "floor").to(at::kInt);
  }
  if (g.dim() != 1 || g.min().item<std::int64_t>() < 0 || g.max().item<std::int64_t>() >= groups) return bad;
  if (!m.contains("bits") && groups > 1) {
    const at::Tensor plain = at::arange(in, g.options().dtype(at::kLong)).div(ceil_div(in, groups), "floor");
    f.desc_act = !at::equal(g.to(at::kLong), plain);
  }
  if (st.metadata.contains("shape")) {
    const auto shape = m.value("shape", std::vector<std::int64_t>{});
    if (shape.size() != 2 || shape[0] != out || shape[1] != in) return bad;
  }
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<LinearImpl>(std::make_shared<GptqLinear>(d(qw), d(qz), d(s), d(g.to(at::kInt)), d(st.find("bias")), f,
                                                                  out, in, st.compute));
}

}  // namespace qrun::gptq
