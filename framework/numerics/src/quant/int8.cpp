// LLM.int8 as bitsandbytes computes it (see qrun/quant/int8.hpp for the functions reproduced).
#include <qrun/quant/int8.hpp>

#include <qrun/quant/blockwise4.hpp>

#include <ATen/ATen.h>
#include <c10/util/Half.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cmath>
#include <vector>

#ifdef QRUN_INT8_CUDA_KERNELS
#include "quant/cuda/int8_kernels.hpp"
inline constexpr bool kInt8CudaKernels = true;
#else
inline constexpr bool kInt8CudaKernels = false;
#endif

namespace qrun::quant {

namespace {

// The same function with device ops (CUDA activations: no round trip through the host). Each
// step is the reference loop's float32 arithmetic, so codes and absmax are identical.
Int8Rows int8_vectorwise_quant_device(const at::Tensor& a_f16, double threshold) {
  const float thr = threshold > 0 ? static_cast<float>(c10::Half(static_cast<float>(threshold))) : 0.0f;
  const bool sparse = threshold > 0;
#ifdef QRUN_INT8_CUDA_KERNELS
  if (a_f16.is_cuda()) {
    Int8Rows r;
    at::Tensor flags;
    cuda::int8_vectorwise_quant(a_f16.to(at::kHalf), thr, sparse, r.codes, r.absmax, flags);
    r.outlier_cols = flags.nonzero().squeeze(1);  // host synchronisation
    if (a_f16.size(0) > 1 && r.outlier_cols.numel() > 0) r.codes.masked_fill_(flags.unsqueeze(0), 0);
    return r;
  }
#endif
  at::Tensor a = a_f16.to(at::kHalf).to(at::kFloat);  // exact widening of float16
  at::Tensor abs = a.abs();
  at::Tensor outlier = sparse ? abs.ge(thr) : at::Tensor();
  Int8Rows r;
  r.absmax = (sparse ? abs.masked_fill(outlier, 0.0) : abs).amax(1);
  at::Tensor scale = at::div(at::full({}, 127.0f, r.absmax.options()), r.absmax);  // float32 127 / m
  at::Tensor q = at::round(a * scale.unsqueeze(1)).nan_to_num(0.0);  // half to even; 0 * inf -> 0
  if (sparse) q.masked_fill_(outlier, 0.0);
  r.codes = q.to(at::kChar);
  if (sparse) {
    r.outlier_cols = outlier.any(0).nonzero().squeeze(1);  // host synchronisation
    if (a.size(0) > 1 && r.outlier_cols.numel() > 0) r.codes.index_fill_(1, r.outlier_cols, 0);
  } else {
    r.outlier_cols = at::empty({0}, a.options().dtype(at::kLong));
  }
  return r;
}

}  // namespace

Int8Rows int8_vectorwise_quant(const at::Tensor& a_f16, double threshold) {
  if (!a_f16.is_cpu()) return int8_vectorwise_quant_device(a_f16, threshold);
  at::Tensor a = a_f16.to(at::kCPU).to(at::kHalf).to(at::kFloat).contiguous();  // exact widening of float16
  const std::int64_t rows = a.size(0), cols = a.size(1);
  // bitsandbytes compares with the threshold as a float16 (T(threshold) in kInt8VectorQuant,
  // and a python scalar against a float16 tensor in the outlier mask).
  const float thr = threshold > 0 ? static_cast<float>(c10::Half(static_cast<float>(threshold))) : 0.0f;
  const bool sparse = threshold > 0;
  Int8Rows r;
  r.codes = at::zeros({rows, cols}, a.options().dtype(at::kChar));
  r.absmax = at::zeros({rows}, a.options().dtype(at::kFloat));
  const float* ap = a.data_ptr<float>();
  std::int8_t* cp = r.codes.data_ptr<std::int8_t>();
  float* sp = r.absmax.data_ptr<float>();
  std::vector<char> outlier_col(static_cast<std::size_t>(cols), 0);
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = ap + i * cols;
    float m = 0.0f;
    for (std::int64_t j = 0; j < cols; ++j) {
      const float v = std::fabs(row[j]);
      if (sparse && v >= thr) {
        outlier_col[static_cast<std::size_t>(j)] = 1;
        continue;  // outliers do not count towards the row absmax
      }
      m = std::max(m, v);
    }
    sp[i] = m;
    const float scale = 127.0f / m;  // float32 division (torch reference; CUDA: __fdividef)
    for (std::int64_t j = 0; j < cols; ++j) {
      if (sparse && std::fabs(row[j]) >= thr) continue;  // outliers stay 0
      const float q = row[j] * scale;
      // torch.round / __float2int_rn: round half to even; NaN (all-zero row: 0 * inf) -> 0.
      cp[i * cols + j] = std::isnan(q) ? 0 : static_cast<std::int8_t>(std::nearbyint(q));
    }
  }
  std::vector<std::int64_t> cols_with_outliers;
  for (std::int64_t j = 0; j < cols; ++j)
    if (outlier_col[static_cast<std::size_t>(j)]) cols_with_outliers.push_back(j);
  r.outlier_cols = at::tensor(cols_with_outliers, at::TensorOptions().dtype(at::kLong));
  if (rows > 1 && !cols_with_outliers.empty()) r.codes.index_fill_(1, r.outlier_cols, 0);
  r.codes = r.codes.to(a_f16.device());
  r.absmax = r.absmax.to(a_f16.device());
  r.outlier_cols = r.outlier_cols.to(a_f16.device());
  return r;
}

Result<Int8Rows> int8_quantize_weight(const at::Tensor& w, const std::string& name) {
  if (!w.defined() || w.dim() != 2)
    return Error{name, "is not a 2-D weight [out, in] (got " + std::to_string(w.defined() ? w.dim() : 0) + " dims)",
                 "quantize only linear-layer weights"};
  if (w.numel() == 0) return Error{name, "is empty", "quantize a weight with at least one element"};
  if (!at::isFloatingType(w.scalar_type()))
    return Error{name, std::string("has dtype ") + c10::toString(w.scalar_type()) + ", int8 quantization takes a float weight",
                 "cast the weight to a floating dtype first"};
  QRUN_TRY(check_finite(w, name));
  // Int8Params._quantize: B = weight.contiguous().to(torch.float16); int8_vectorwise_quant(B)
  at::Tensor w16 = w.to(at::kHalf);
  if (!at::isfinite(w16).all().item<bool>())
    return Error{name, "has values outside the float16 range (|w| > 65504), which bitsandbytes' int8 cast overflows",
                 "rescale the weight or use a 4-bit quantizer"};
  return int8_vectorwise_quant(w16, 0.0);
}

at::Tensor int8_vectorwise_dequant(const at::Tensor& codes, const at::Tensor& absmax) {
  // A * stats.view(-1, 1) * 7.874015718698502e-3 (left to right, float32)
  return codes.to(at::kFloat) * absmax.to(at::kFloat).view({-1, 1}) * static_cast<double>(kInt8DequantConst);
}

at::Tensor int8_linear_matmul(const at::Tensor& a, const at::Tensor& b) {
#if TORCH_VERSION_MAJOR >= 2
  // at::_int_mm: int8 [m, k] x int8 [k, n] -> int32, CUDA, m > 16, k and n multiples of 8.
  // Fewer rows (decode): zero rows pad A to 32, so the weight is still read once as int8.
  if (a.is_cuda() && a.size(1) >= 16 && a.size(1) % 8 == 0 && b.size(0) % 8 == 0) {
    if (a.size(0) > 16) return at::_int_mm(a.contiguous(), b.t());
    at::Tensor padded = at::zeros({32, a.size(1)}, a.options());
    padded.slice(0, 0, a.size(0)).copy_(a);
    return at::_int_mm(padded, b.t()).slice(0, 0, a.size(0));
  }
#endif
  // Exact: products of int8 are <= 127^2 and every partial sum is an integer below 2^53.
  return at::mm(a.to(at::kDouble), b.to(at::kDouble).t()).to(at::kInt);
}

at::Tensor int8_mm_dequant(const at::Tensor& acc_i32, const at::Tensor& row_absmax, const at::Tensor& col_absmax,
                           const at::Tensor& bias) {
  const bool fused_bias = bias.defined() && bias.scalar_type() == at::kHalf;
  at::Tensor out;
  if (acc_i32.is_cpu()) {
    at::Tensor acc = acc_i32.contiguous();
    at::Tensor row = row_absmax.to(at::kFloat).contiguous(), col = col_absmax.to(at::kFloat).contiguous();
    at::Tensor b = fused_bias ? bias.to(at::kFloat).contiguous() : at::Tensor();
    const std::int64_t m = acc.size(0), n = acc.size(1);
    at::Tensor out_f = at::empty({m, n}, acc.options().dtype(at::kFloat));
    const std::int32_t* ap = acc.data_ptr<std::int32_t>();
    const float* rp = row.data_ptr<float>();
    const float* cp = col.data_ptr<float>();
    const float* bp = fused_bias ? b.data_ptr<float>() : nullptr;
    float* op = out_f.data_ptr<float>();
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        // kdequant_mm_int32_fp16: __float2half(fmaf(acc * row * col, MM_DEQUANT_CONST, bias))
        const float v = static_cast<float>(ap[i * n + j]) * rp[i] * cp[j];
        op[i * n + j] = std::fma(v, kInt8MmDequantConst, bp ? bp[j] : 0.0f);
      }
    out = out_f.to(at::kHalf);
  } else if (acc_i32.is_cuda() && kInt8CudaKernels) {
#ifdef QRUN_INT8_CUDA_KERNELS
    out = cuda::int8_mm_dequant(acc_i32, row_absmax, col_absmax, fused_bias ? bias : at::Tensor(), kInt8MmDequantConst);
#endif
  } else {
    // Other devices: the same formula with ATen ops.
    at::Tensor v = acc_i32.to(at::kFloat) * row_absmax.to(at::kFloat).view({-1, 1}) * col_absmax.to(at::kFloat).view({1, -1});
    // fmaf(v, C, bias): the float32 product v * C is exact in float64; adding the bias there and
    // rounding to float32 gives the fused result except for rare double-rounding ties (1 ulp).
    if (fused_bias)
      v = at::addcmul(bias.to(at::kDouble), v.to(at::kDouble), at::full({}, static_cast<double>(kInt8MmDequantConst),
                                                                       v.options().dtype(at::kDouble)))
              .to(at::kFloat);
    else
      v = v * static_cast<double>(kInt8MmDequantConst);
    out = v.to(at::kHalf);
  }
  if (bias.defined() && !fused_bias) out.add_(bias);  // bitsandbytes: out.add_(bias) on the float16 result
  return out;
}

bool int8_forward_graph_safe(std::int64_t rows, c10::Device device, std::int64_t in_features) {
#ifdef QRUN_INT8_CUDA_KERNELS
  return device.is_cuda() && rows >= 1 && rows <= cuda::kFusedRowsMax && in_features % 16 == 0;
#else
  (void)rows, (void)device, (void)in_features;
  return false;
#endif
}

at::Tensor int8_mixed_linear(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                             double threshold) {
  const std::int64_t in = cb.size(1);
  at::Tensor x2 = x.reshape({-1, in});
#ifdef QRUN_INT8_CUDA_KERNELS
  if (int8_forward_graph_safe(x2.size(0), x2.device(), in)) {
    const float thr = threshold > 0 ? static_cast<float>(c10::Half(static_cast<float>(threshold))) : 0.0f;
    at::Tensor out = cuda::int8_small_linear(x2, cb.contiguous(), scb.to(at::kFloat), bias, thr, threshold > 0,
                                             kInt8MmDequantConst, kInt8DequantConst);
    std::vector<std::int64_t> shape = x.sizes().vec();
    shape.back() = cb.size(0);
    return out.reshape(shape);
  }
#endif
  // MatMul8bitLt: CA, SCA, outlier_cols = int8_vectorwise_quant(A.to(torch.float16), threshold)
  Int8Rows a = int8_vectorwise_quant(x2.to(at::kHalf), threshold);
  at::Tensor acc = int8_linear_matmul(a.codes, cb);
  at::Tensor out = int8_mm_dequant(acc, a.absmax, scb, bias).to(x.scalar_type());
  if (a.outlier_cols.numel() > 0) {
    // int8_mixed_scaled_mm: output.addmm(A[:, cols], dequant(CB[:, cols]).to(A.dtype).t())
    at::Tensor sub_a = x2.index_select(1, a.outlier_cols);
    at::Tensor sub_b = int8_vectorwise_dequant(cb.index_select(1, a.outlier_cols), scb).to(x.scalar_type()).t();
    out = out.addmm(sub_a, sub_b);
  }
  std::vector<std::int64_t> shape = x.sizes().vec();
  shape.back() = cb.size(0);
  return out.reshape(shape);
}

}  // namespace qrun::quant
