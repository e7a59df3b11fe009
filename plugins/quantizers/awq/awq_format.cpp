// The AWQ GEMM checkpoint format (AutoAWQ's WQLinear_GEMM): see awq_format.hpp.
#include "awq_format.hpp"

#include "../gptq/gptq_format.hpp"

#include <ATen/ATen.h>

#include <set>

namespace qrun::awq {

namespace {

const std::vector<std::int64_t> kOrder = {0, 2, 4, 6, 1, 3, 5, 7};    // AWQ_ORDER
const std::vector<std::int64_t> kReverse = {0, 4, 1, 5, 2, 6, 3, 7};  // AWQ_REVERSE_ORDER

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

at::Tensor to_int32_bits(const at::Tensor& words) {
  const std::int64_t two31 = std::int64_t{1} << 31, two32 = std::int64_t{1} << 32;
  return at::where(words >= two31, words - two32, words).to(at::kInt);
}

// Codes along the last dimension of [n, out] packed as the width requires.
at::Tensor pack_cols(const at::Tensor& codes, int bits) {
  if (bits == 4) return pack_gemm(codes);
  return gptq::pack_rows(codes.t().contiguous(), bits).t().contiguous();
}
at::Tensor unpack_cols(const at::Tensor& packed, int bits, std::int64_t out) {
  if (bits == 4) return unpack_gemm(packed, out);
  return gptq::unpack_rows(packed.t().contiguous(), bits, out).t();
}

}  // namespace

at::Tensor pack_gemm(const at::Tensor& codes) {
  const std::int64_t n = codes.size(0), out = codes.size(1), words = ceil_div(out, 8);
  at::Tensor c = at::zeros({n, words * 8}, codes.options().dtype(at::kLong));
  c.slice(1, 0, out).copy_(codes);
  const auto opt = c.options();
  const at::Tensor ordered = c.view({n, words, 8}).index_select(2, at::tensor(kOrder, opt));
  return to_int32_bits(ordered.bitwise_left_shift(at::arange(8, opt).mul(4)).sum(2));
}

at::Tensor unpack_gemm(const at::Tensor& packed, std::int64_t out) {
  const std::int64_t n = packed.size(0), words = packed.size(1);
  const at::Tensor w = packed.to(at::kLong).bitwise_and(static_cast<std::int64_t>(0xffffffffLL));
  const auto opt = w.options();
  const at::Tensor nibbles = w.unsqueeze(2).bitwise_right_shift(at::arange(8, opt).mul(4)).bitwise_and(15);
  return nibbles.index_select(2, at::tensor(kReverse, opt)).reshape({n, words * 8}).slice(1, 0, out);
}

AwqLinear::AwqLinear(at::Tensor qweight, at::Tensor qzeros, at::Tensor scales, at::Tensor bias, int bits,
                     std::int64_t out, std::int64_t in, c10::ScalarType compute)
    : qw_(std::move(qweight)), qz_(std::move(qzeros)), s_(std::move(scales)), b_(std::move(bias)), bits_(bits), out_(out),
      in_(in), compute_(compute) {}

std::shared_ptr<AwqLinear> AwqLinear::from_codes(const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& zeros,
                                                 const at::Tensor& bias, int bits, c10::ScalarType compute) {
  const std::int64_t out = codes.size(0), in = codes.size(1);
  at::Tensor qw = pack_cols(codes.to(at::kLong).t().contiguous(), bits);
  at::Tensor qz = pack_cols(zeros.to(at::kLong).t().contiguous(), bits);
  at::Tensor b = bias.defined() ? bias.to(at::kHalf) : bias;
  return std::make_shared<AwqLinear>(qw, qz, scales.t().contiguous().to(at::kHalf), b, bits, out, in, compute);
}

at::Tensor AwqLinear::codes() const { return unpack_cols(qw_, bits_, out_); }
at::Tensor AwqLinear::zero_points() const { return unpack_cols(qz_, bits_, out_); }

at::Tensor AwqLinear::weight(c10::ScalarType dtype) const {
  const std::int64_t group = in_ / s_.size(0);
  const at::Tensor z = zero_points().repeat_interleave(group, 0), s = s_.to(at::kFloat).repeat_interleave(group, 0);
  return ((codes() - z).to(at::kFloat) * s).t().contiguous().to(dtype);
}

at::Tensor AwqLinear::forward(const at::Tensor& x) const { return at::linear(x, weight(x.scalar_type()), bias()); }

StorageInfo AwqLinear::storage() const {
  auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0; };
  const std::int64_t bytes = nb(qw_) + nb(qz_) + nb(s_) + nb(b_);
  const std::int64_t group = in_ / s_.size(0);
  return {bytes, bytes, bits_, "awq int" + std::to_string(bits_) + " asym g" + std::to_string(group)};
}

NamedTensors AwqLinear::state() const {
  NamedTensors t{{"qweight", qw_}, {"qzeros", qz_}, {"scales", s_}};
  if (b_.defined()) t.emplace_back("bias", b_);
  return t;
}

nlohmann::json AwqLinear::metadata() const {
  return {{"bits", bits_}, {"group_size", in_ / s_.size(0)}, {"packing", bits_ == 4 ? "gemm" : "bitstream"},
          {"shape", {out_, in_}}};
}

std::shared_ptr<LinearImpl> AwqLinear::clone_to(c10::Device d) const {
  auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
  return std::make_shared<AwqLinear>(mv(qw_), mv(qz_), mv(s_), mv(b_), bits_, out_, in_, compute_);
}

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  for (const char* need : {"qweight", "qzeros", "scales"})
    if (!have.count(need)) return false;
  for (const auto& s : have)
    if (s != "qweight" && s != "qzeros" && s != "scales" && s != "bias") return false;
  return true;
}

Result<std::shared_ptr<LinearImpl>> load(const LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor qw, st.get("qweight"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor qz, st.get("qzeros"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("scales"));
  const Error bad{st.name, "AWQ tensors and metadata disagree (qweight, qzeros, scales shapes)",
                  "load a checkpoint written by AutoAWQ (GEMM) or qrun quantize", ErrorCode::corrupt_input};
  if (qw.dim() != 2 || qz.dim() != 2 || s.dim() != 2 || qw.scalar_type() != at::kInt || qz.scalar_type() != at::kInt)
    return bad;
  const std::int64_t out = s.size(1), groups = s.size(0), in = qw.size(0);
  int bits = 4;
  if (st.metadata.contains("bits")) {
    bits = st.metadata.value("bits", 0);
    const auto shape = st.metadata.value("shape", std::vector<std::int64_t>{});
    if (shape.size() != 2 || shape[0] != out || shape[1] != in) return bad;
  } else if (qw.size(1) == out && out > 8) {
    return Error{st.name, "has GPTQ's packing (qweight [in*bits/32, out]) but no g_idx",
                 "add g_idx = arange(in) // group_size to the checkpoint so that it loads as GPTQ", ErrorCode::unsupported};
  }
  const std::int64_t width = bits == 4 ? ceil_div(out, 8) : ceil_div(out, 32) * bits;
  if (bits < 2 || bits > 8 || groups < 1 || in % groups != 0 || qw.size(1) != width || qz.size(0) != groups ||
      qz.size(1) != width)
    return bad;
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<LinearImpl>(
      std::make_shared<AwqLinear>(d(qw), d(qz), d(s), d(st.find("bias")), bits, out, in, st.compute));
}

}  // namespace qrun::awq
