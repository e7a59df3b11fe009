// 8-bit blockwise quantization with the dynamic map and the 4-bit double quant
// (see qrun/quant/double_quant.hpp for the bitsandbytes functions reproduced).
#include <qrun/quant/double_quant.hpp>

#include <qrun/quant/blockwise4.hpp>

#include <ATen/ATen.h>

namespace qrun::quant {

Blockwise8bit quantize_blockwise_8bit(const at::Tensor& x, const std::array<float, 256>& code,
                                      std::int64_t blocksize) {
  at::Tensor flat = x.reshape({-1}).to(at::kCPU, at::kFloat).contiguous();
  Blockwise8bit q;
  q.blocksize = blocksize;
  q.absmax = blockwise_absmax(flat, blocksize).contiguous();
  q.codes = at::empty({flat.numel()}, flat.options().dtype(at::kByte));
  const float* xp = flat.data_ptr<float>();
  const float* ap = q.absmax.data_ptr<float>();
  std::uint8_t* cp = q.codes.data_ptr<std::uint8_t>();
  const std::int64_t n = flat.numel();
  for (std::int64_t b = 0; b * blocksize < n; ++b) {
    const float inv = 1.0f / ap[b];  // kQuantizeBlockwise: float32 reciprocal, then products
    const std::int64_t end = std::min(n, (b + 1) * blocksize);
    for (std::int64_t i = b * blocksize; i < end; ++i) cp[i] = quantize_dynamic_value(code, xp[i] * inv);
  }
  q.codes = q.codes.to(x.device());
  q.absmax = q.absmax.to(x.device());
  return q;
}

at::Tensor dequantize_blockwise_8bit(const Blockwise8bit& q, const std::array<float, 256>& code) {
  at::Tensor table = at::from_blob(const_cast<float*>(code.data()), {256}, at::TensorOptions().dtype(at::kFloat))
                         .to(q.codes.device());
  at::Tensor values = table.index_select(0, q.codes.reshape({-1}).to(at::kLong));
  at::Tensor scale = q.absmax.to(at::kFloat).repeat_interleave(q.blocksize).slice(0, 0, values.numel());
  return values * scale;  // kDequantizeBlockwise: smem_code[q] * absmax, float32
}

DoubleQuantAbsmax double_quantize_absmax(const at::Tensor& absmax_f32) {
  at::Tensor a = absmax_f32.reshape({-1}).to(at::kFloat);
  DoubleQuantAbsmax dq;
  // quantize_4bit(compress_statistics=True): offset = absmax.mean(); absmax -= offset (float32)
  at::Tensor offset = a.mean();
  dq.offset = offset.item<float>();
  dq.nested = quantize_blockwise_8bit(a - offset, dynamic_map_signed(), kDoubleQuantBlocksize);
  return dq;
}

at::Tensor double_dequantize_absmax(const DoubleQuantAbsmax& dq) {
  // dequantize_4bit: absmax = dequantize_blockwise(absmax, state2); absmax += offset
  return dequantize_blockwise_8bit(dq.nested, dq.map) + dq.offset;
}

}  // namespace qrun::quant
