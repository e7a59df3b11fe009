// LLM.int8's two element-wise steps as single CUDA kernels (bitsandbytes' kInt8VectorQuant and
// kdequant_mm_int32_fp16), used by qrun/quant/int8.hpp's functions on CUDA tensors. Built only
// with CUDA (QRUN_INT8_CUDA_KERNELS); otherwise those functions use ATen ops.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace qrun::quant::cuda {

// a [M, K] float16 -> codes int8 [M, K] (outliers 0), absmax float32 [M] (of the non-outliers),
// outlier column flags bool [K] (|a| >= threshold_f16 anywhere in the column; none when
// `sparse` is false). threshold_f16: the threshold as bitsandbytes compares it (a float16).
// Codes of the other rows in outlier columns are NOT zeroed here.
void int8_vectorwise_quant(const at::Tensor& a, float threshold_f16, bool sparse, at::Tensor& codes,
                           at::Tensor& absmax, at::Tensor& outlier_flags);

// acc int32 [M, N] -> float16 [M, N]: __float2half(fmaf(acc * row[m] * col[n], scale, bias[n]))
// with scale = MM_DEQUANT_CONST (qrun::quant::kInt8MmDequantConst); bias float16 [N] or
// undefined (0).
at::Tensor int8_mm_dequant(const at::Tensor& acc, const at::Tensor& row_absmax, const at::Tensor& col_absmax,
                           const at::Tensor& bias_f16, float scale);

// The whole MatMul8bitLt forward for up to 128 rows (decode) in two or three launches, without a host
// synchronisation (so a CUDA graph can capture it): the rows' activation quantization in one
// block (kInt8VectorQuant, outlier columns flagged), then one warp per output feature doing the
// int8 dot products exactly (int32, __dp4a) plus the outlier columns' x * dequant(CB) in float32,
// then the dequantization and bias as int8_mm_dequant and MatMul8bitLt do them.
// x [M, K] (float16, bfloat16 or float32) with M <= kFusedRowsMax and K % 16 == 0; cb int8 [N, K];
// scb float32 [N]; bias [N] or undefined. Returns [M, N] in x's dtype. Up to kSmallRows rows
// the quantization is one block (no memset); the dot products take rows 16 at a time.
inline constexpr std::int64_t kSmallRows = 16;
inline constexpr std::int64_t kFusedRowsMax = 128;
at::Tensor int8_small_linear(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                             float threshold_f16, bool sparse, float mm_dequant_scale, float weight_dequant_scale);

}  // namespace qrun::quant::cuda
