// bitsandbytes' LLM.int8 (vector-wise int8 quantization and the mixed-precision matmul),
// reproduced from bitsandbytes >= 0.45:
//  - int8_vectorwise_quant (functional.py; CUDA kInt8VectorQuant in csrc/ops.cu; the torch
//    reference in backends/default/ops.py): per row absmax (float32, of the float16 values;
//    with a threshold > 0 only |x| < threshold counts), CB = round_half_even(x * (127.0f /
//    absmax)) in float32, outliers (|x| >= threshold) and, for more than one row, every column
//    holding one, set to 0. Int8Params casts the weight to float16 before quantizing; so does
//    MatMul8bitLt for the activations. An all-zero row gives codes 0 (CUDA __float2int_rn(NaN)).
//    CUDA computes 127/absmax with __fdividef (<= 2 ulp); qrun uses the IEEE division of the
//    torch reference, so a code can differ by one only when x*scale lies within 2 ulp of k+0.5.
//  - int8_vectorwise_dequant: CB * SCB.view(-1, 1) * 7.874015718698502e-3 (float32).
//  - int8_mm_dequant (CUDA kdequant_mm_int32_fp16): out = half(fmaf(acc * row * col,
//    6.200012e-05f, bias)) with acc the exact int32 product; bias fused only when float16,
//    otherwise added to the float16 result; then cast to the input dtype.
//  - int8_mixed_scaled_mm (backends/default/ops.py): the int8 path on every column, outlier
//    columns zeroed in CA, plus A[:, cols] @ dequant(CB[:, cols]).to(A.dtype).t() (addmm).
#pragma once

#include <qrun/error.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

#include <string>

namespace qrun::quant {

inline constexpr double kDefaultInt8Threshold = 6.0;
inline constexpr float kInt8DequantConst = 7.874015718698502e-3f;  // 1/127 (int8_vectorwise_dequant)
inline constexpr float kInt8MmDequantConst = 6.200012e-05f;        // MM_DEQUANT_CONST, 1/(127*127)

struct Int8Rows {
  at::Tensor codes;        // int8 [rows, cols] (CB for weights, CA for activations)
  at::Tensor absmax;       // float32 [rows] (SCB / SCA)
  at::Tensor outlier_cols; // int64 [k] (empty unless threshold > 0 found outliers)
};

// The quantization of a 2-D tensor already in float16, exactly as int8_vectorwise_quant.
Int8Rows int8_vectorwise_quant(const at::Tensor& a_f16, double threshold);
// A weight [out, in] of any float dtype: refuses non-2-D, empty, NaN/Inf and values outside the
// float16 range (bitsandbytes casts to float16 first), naming `name`.
Result<Int8Rows> int8_quantize_weight(const at::Tensor& w, const std::string& name);
// CB * SCB[row] / 127 as float32 [rows, cols].
at::Tensor int8_vectorwise_dequant(const at::Tensor& codes, const at::Tensor& absmax);
// Exact int32 product A[m, k] @ B[n, k]^T of int8 matrices. CPU: float64 GEMM, exact because
// every partial sum is an integer below 2^53 for k < 2^53 / 127^2; CUDA: at::_int_mm when shapes
// allow (torch >= 2), else the same float64 path.
at::Tensor int8_linear_matmul(const at::Tensor& a, const at::Tensor& b);
// int8_mm_dequant as the CUDA kernel computes it; returns float16 [m, n].
at::Tensor int8_mm_dequant(const at::Tensor& acc_i32, const at::Tensor& row_absmax, const at::Tensor& col_absmax,
                           const at::Tensor& bias);
// The LLM.int8 forward of MatMul8bitLt for x [..., in] in its compute dtype; returns [..., out]
// in x's dtype. threshold 0 disables the decomposition. On CUDA, up to 128 rows take one fused
// path (quantize + int8 dot products + outlier columns + dequantize, no host synchronisation;
// decode steps); more rows take int8_vectorwise_quant / int8_linear_matmul / int8_mm_dequant.
at::Tensor int8_mixed_linear(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                             double threshold);
// Whether int8_mixed_linear on `rows` rows on `device` runs without a host synchronisation (so a
// CUDA graph may capture it): the fused small-row CUDA path, built with CUDA only.
bool int8_forward_graph_safe(std::int64_t rows, c10::Device device, std::int64_t in_features);

}  // namespace qrun::quant
