// bitsandbytes' blockwise 4-bit quantization (see qrun/quant/blockwise4.hpp for the sources).
#include <qrun/quant/blockwise4.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace qrun::quant {

std::int64_t Packed4bit::numel() const {
  std::int64_t n = 1;
  for (std::int64_t s : shape) n *= s;
  return n;
}

Result<void> check_blocksize_4bit(std::int64_t blocksize, const std::string& thing) {
  const bool pow2 = blocksize > 0 && (blocksize & (blocksize - 1)) == 0;
  if (!pow2 || blocksize < 64 || blocksize > 4096)
    return Error{thing, std::to_string(blocksize) + " is not a bitsandbytes 4-bit block size",
                 "use a power of two in [64, 4096] (64, 128, 256, 512, 1024, 2048 or 4096)"};
  return {};
}

Result<void> check_finite(const at::Tensor& t, const std::string& name) {
  at::Tensor bad = at::logical_not(at::isfinite(t)).reshape({-1});
  if (bad.any().item<bool>()) {
    const std::int64_t first = bad.nonzero().index({0, 0}).item<std::int64_t>();
    const std::int64_t count = bad.sum().item<std::int64_t>();
    return Error{name, std::to_string(count) + " NaN/Inf value(s), first at flat index " + std::to_string(first),
                 "use a checkpoint with finite weights (quantizing NaN/Inf is undefined in bitsandbytes)"};
  }
  return {};
}

at::Tensor blockwise_absmax(const at::Tensor& flat_f32, std::int64_t blocksize) {
  const std::int64_t n = flat_f32.numel();
  const std::int64_t full = n / blocksize, rem = n % blocksize;
  at::Tensor a = flat_f32.reshape({-1}).abs();
  at::Tensor absmax = at::empty({full + (rem ? 1 : 0)}, flat_f32.options().dtype(at::kFloat));
  if (full > 0) absmax.slice(0, 0, full).copy_(std::get<0>(a.slice(0, 0, full * blocksize).view({full, blocksize}).max(1)));
  if (rem > 0) absmax.index_put_({full}, a.slice(0, full * blocksize, n).max());
  return absmax;
}

at::Tensor quantize_4bit_codes(const at::Tensor& flat_f32, const at::Tensor& absmax, std::int64_t blocksize,
                               FourBit type) {
  at::Tensor x = flat_f32.reshape({-1}).to(at::kCPU, at::kFloat).contiguous();
  at::Tensor am = absmax.to(at::kCPU, at::kFloat).contiguous();
  const std::int64_t n = x.numel();
  at::Tensor codes = at::empty({n}, x.options().dtype(at::kByte));
  const float* xp = x.data_ptr<float>();
  const float* ap = am.data_ptr<float>();
  std::uint8_t* cp = codes.data_ptr<std::uint8_t>();
  for (std::int64_t b = 0; b * blocksize < n; ++b) {
    const float inv = 1.0f / ap[b];  // kQuantizeBlockwise: reciprocal once per block, float32
    const std::int64_t end = std::min(n, (b + 1) * blocksize);
    for (std::int64_t i = b * blocksize; i < end; ++i) cp[i] = quantize_4bit_value(type, xp[i] * inv);
  }
  return codes.to(flat_f32.device());
}

at::Tensor pack_4bit(const at::Tensor& codes) {
  at::Tensor c = codes.reshape({-1}).to(at::kByte);
  const std::int64_t n = c.numel();
  if (n % 2 != 0) c = at::cat({c, at::zeros({1}, c.options())});
  at::Tensor pairs = c.view({-1, 2});
  at::Tensor hi = pairs.select(1, 0), lo = pairs.select(1, 1);
  // first element in the high nibble (kQuantizeBlockwise: qvals[j] = q(2j) << 4 | q(2j+1))
  return at::bitwise_or(at::bitwise_left_shift(at::bitwise_and(hi, 0x0F), 4), at::bitwise_and(lo, 0x0F))
      .reshape({-1, 1})
      .contiguous();
}

at::Tensor unpack_4bit(const at::Tensor& packed, std::int64_t n) {
  at::Tensor p = packed.reshape({-1}).to(at::kByte);
  at::Tensor hi = at::bitwise_right_shift(p, 4);
  at::Tensor lo = at::bitwise_and(p, 0x0F);
  return at::stack({hi, lo}, 1).reshape({-1}).slice(0, 0, n).contiguous();
}

Result<Packed4bit> quantize_4bit(const at::Tensor& w, FourBit type, std::int64_t blocksize, const std::string& name) {
  QRUN_TRY(check_blocksize_4bit(blocksize, name + " blocksize"));
  if (!w.defined() || w.numel() == 0)
    return Error{name, "is empty", "quantize a tensor with at least one element"};
  const auto st = w.scalar_type();
  if (st != at::kFloat && st != at::kHalf && st != at::kBFloat16)
    return Error{name, std::string("has dtype ") + c10::toString(st) + ", 4-bit quantization takes float32/float16/bfloat16",
                 "cast the tensor to a floating dtype first"};
  QRUN_TRY(check_finite(w, name));
  Packed4bit q;
  at::Tensor flat = w.reshape({-1}).to(at::kFloat);  // exact for f16/bf16 (kernel reads (float)vals[j])
  q.absmax = blockwise_absmax(flat, blocksize);
  q.packed = pack_4bit(quantize_4bit_codes(flat, q.absmax, blocksize, type));
  q.shape = w.sizes().vec();
  q.blocksize = blocksize;
  q.type = type;
  q.dtype = st;
  return q;
}

at::Tensor dequantize_4bit_codes(const at::Tensor& codes, const at::Tensor& absmax, std::int64_t blocksize,
                                 FourBit type, const std::vector<std::int64_t>& shape, c10::ScalarType dtype) {
  const auto& book = code_book(type);
  at::Tensor table = at::from_blob(const_cast<float*>(book.data()), {16}, at::TensorOptions().dtype(at::kFloat))
                         .to(codes.device());
  at::Tensor values = table.index_select(0, codes.reshape({-1}).to(at::kLong));
  const std::int64_t n = values.numel();
  // absmax of the block each element belongs to: repeat each block's scale blocksize times.
  at::Tensor scale = absmax.to(values.device(), at::kFloat).repeat_interleave(blocksize).slice(0, 0, n);
  return (values * scale).reshape(shape).to(dtype);  // float32 product, then one cast (kernel: (T)(code*absmax))
}

at::Tensor dequantize_4bit(const Packed4bit& q, c10::ScalarType dtype) {
  return dequantize_4bit_codes(unpack_4bit(q.packed, q.numel()), q.absmax, q.blocksize, q.type, q.shape, dtype);
}

}  // namespace qrun::quant
