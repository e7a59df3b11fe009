// See int8_kernels.hpp. Arithmetic as the CPU reference in framework/src/quant/int8.cpp.
#include "quant/cuda/int8_kernels.hpp"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

namespace qrun::quant::cuda {
namespace {

__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) >> 5;
    v = lane < warps ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}

// One row, by all threads of the block (block_max synchronises): the absmax of the non-outliers
// (|x| >= thr flags the column), then codes = round_half_even(x * (127 / absmax)), outliers 0.
// x is read as float16 (A.to(float16)), as the reference loop does.
template <typename T, typename Flag>
__device__ void quantize_row(const T* row, std::int8_t* out, float* absmax, Flag* flags, int cols, float thr,
                             bool sparse) {
  float m = 0.0f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = fabsf(__half2float(__float2half_rn(to_f(row[j]))));
    if (sparse && v >= thr) {
      flags[j] = Flag(1);  // every writer stores the same value
      continue;
    }
    m = fmaxf(m, v);
  }
  m = block_max(m);
  if (threadIdx.x == 0) *absmax = m;
  const float scale = __fdiv_rn(127.0f, m);  // IEEE float32 division, as the reference
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float x = __half2float(__float2half_rn(to_f(row[j])));
    const float q = __fmul_rn(x, scale);
    // 0 * inf (an all-zero row) is NaN -> 0
    out[j] = (sparse && fabsf(x) >= thr) || isnan(q) ? 0 : static_cast<std::int8_t>(__float2int_rn(q));
  }
  __syncthreads();  // block_max's shared slots may be reused by the caller's next row
}

// One block per row.
template <typename T, typename Flag>
__global__ void rows_quant_kernel(const T* x, std::int8_t* codes, float* absmax, Flag* flags, int cols, float thr,
                                  bool sparse) {
  const std::int64_t off = static_cast<std::int64_t>(blockIdx.x) * cols;
  quantize_row(x + off, codes + off, absmax + blockIdx.x, flags, cols, thr, sparse);
}

__global__ void mm_dequant_kernel(const std::int32_t* acc, const float* row, const float* col, const __half* bias,
                                  __half* out, std::int64_t rows, std::int64_t cols, float scale) {
  const std::int64_t n = rows * cols;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / cols, c = i % cols;
    const float v = __fmul_rn(__fmul_rn(static_cast<float>(acc[i]), row[r]), col[c]);
    out[i] = __float2half_rn(fmaf(v, scale, bias != nullptr ? __half2float(bias[c]) : 0.0f));
  }
}

// One block for all rows (few rows): clears the flags first, so the launch needs no memset.
template <typename T>
__global__ void small_quant_kernel(const T* x, std::int8_t* codes, float* absmax, int* flags, int rows, int cols,
                                   float thr, bool sparse) {
  for (int j = threadIdx.x; j < cols; j += blockDim.x) flags[j] = 0;
  __syncthreads();
  for (int r = 0; r < rows; ++r) {
    const std::int64_t off = static_cast<std::int64_t>(r) * cols;
    quantize_row(x + off, codes + off, absmax + r, flags, cols, thr, sparse);
  }
}

// One warp per output feature n: int32 dot products of the non-outlier columns (__dp4a on 16-byte
// chunks), float32 sums of x * half(CB * SCB / 127) over the outlier columns, then
//   h = half(fmaf(acc * absmax[m] * scb[n], mm_scale, bias_f16[n]))  (kdequant_mm_int32_fp16)
//   h = half(h + bias[n])          for a non-float16 bias (out.add_(bias))
//   o = T(h); o = T(o + outlier_sum)   (output.addmm(subA, subB) in x's dtype)
template <typename T, int MAXR>
__global__ void small_gemv_kernel(const T* x, const std::int8_t* xq, const float* xabs, const int* flags,
                                  const std::int8_t* w, const float* scb, const float* bias, bool bias_is_half, T* out,
                                  int rows, int n_out, int cols, float mm_scale, float w_scale) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= n_out) return;
  const std::int8_t* wr = w + static_cast<std::int64_t>(warp) * cols;
  const float sc = scb[warp];
  // Rows in chunks of MAXR (register accumulators); the weight row is re-read from cache.
  for (int r0 = 0; r0 < rows; r0 += MAXR) {
    const int nr = min(MAXR, rows - r0);
    const std::int8_t* xq0 = xq + static_cast<std::int64_t>(r0) * cols;
    const T* x0 = x + static_cast<std::int64_t>(r0) * cols;
    int acc[MAXR];
    float accf[MAXR];
    for (int r = 0; r < MAXR; ++r) {
      acc[r] = 0;
      accf[r] = 0.0f;
    }
    bool any_outlier = false;
    for (int k = lane * 16; k < cols; k += 32 * 16) {
      const int4 wv = *reinterpret_cast<const int4*>(wr + k);
      const int4 fv0 = *reinterpret_cast<const int4*>(flags + k);
      const int4 fv1 = *reinterpret_cast<const int4*>(flags + k + 4);
      const int4 fv2 = *reinterpret_cast<const int4*>(flags + k + 8);
      const int4 fv3 = *reinterpret_cast<const int4*>(flags + k + 12);
      const bool chunk_outliers = (fv0.x | fv0.y | fv0.z | fv0.w | fv1.x | fv1.y | fv1.z | fv1.w | fv2.x | fv2.y |
                                   fv2.z | fv2.w | fv3.x | fv3.y | fv3.z | fv3.w) != 0;
      if (!chunk_outliers) {
        for (int r = 0; r < nr; ++r) {
          const int4 xv = *reinterpret_cast<const int4*>(xq0 + static_cast<std::int64_t>(r) * cols + k);
          acc[r] = __dp4a(xv.x, wv.x, acc[r]);
          acc[r] = __dp4a(xv.y, wv.y, acc[r]);
          acc[r] = __dp4a(xv.z, wv.z, acc[r]);
          acc[r] = __dp4a(xv.w, wv.w, acc[r]);
        }
      } else {
        any_outlier = true;
        const std::int8_t* wb = reinterpret_cast<const std::int8_t*>(&wv);
        for (int i = 0; i < 16; ++i) {
          const bool outlier = flags[k + i] != 0;
          // dequant(CB[:, cols]) in float32, then .to(x's dtype) as the addmm operand
          const float wd = to_f(static_cast<T>(static_cast<float>(wb[i]) * sc * w_scale));
          for (int r = 0; r < nr; ++r) {
            const std::int64_t at = static_cast<std::int64_t>(r) * cols + k + i;
            if (outlier)
              accf[r] += to_f(x0[at]) * wd;
            else
              acc[r] += static_cast<int>(xq0[at]) * static_cast<int>(wb[i]);
          }
        }
      }
    }
    any_outlier = __any_sync(0xffffffffu, any_outlier);
    for (int r = 0; r < nr; ++r) {
      int a = acc[r];
      float f = accf[r];
      for (int o = 16; o > 0; o >>= 1) {
        a += __shfl_xor_sync(0xffffffffu, a, o);
        f += __shfl_xor_sync(0xffffffffu, f, o);
      }
      if (lane == 0) {
        const float v = __fmul_rn(__fmul_rn(static_cast<float>(a), xabs[r0 + r]), sc);
        const float fused_bias = bias != nullptr && bias_is_half ? bias[warp] : 0.0f;
        __half h = __float2half_rn(fmaf(v, mm_scale, fused_bias));
        if (bias != nullptr && !bias_is_half) h = __float2half_rn(__half2float(h) + bias[warp]);
        T o = static_cast<T>(__half2float(h));
        if (any_outlier) o = static_cast<T>(to_f(o) + f);
        out[static_cast<std::int64_t>(r0 + r) * n_out + warp] = o;
      }
    }
  }
}

}  // namespace

at::Tensor int8_small_linear(const at::Tensor& x_in, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias_in,
                             float thr, bool sparse, float mm_scale, float w_scale) {
  at::Tensor x = x_in.contiguous();
  const auto rows = x.size(0), cols = x.size(1), n_out = cb.size(0);
  TORCH_CHECK(x.is_cuda() && rows <= kFusedRowsMax && cols % 16 == 0 && cb.is_contiguous(),
              "int8_small_linear: CUDA x [M <= kFusedRowsMax, K % 16 == 0] and contiguous CB");
  at::Tensor codes = at::empty({rows, cols}, x.options().dtype(at::kChar));
  at::Tensor absmax = at::empty({rows}, x.options().dtype(at::kFloat));
  // Up to kSmallRows rows: one block quantizes them all and clears the flags itself; more rows:
  // one block per row after a memset of the flags.
  const bool one_block = rows <= kSmallRows;
  at::Tensor flags = one_block ? at::empty({cols}, x.options().dtype(at::kInt)) : at::zeros({cols}, x.options().dtype(at::kInt));
  at::Tensor out = at::empty({rows, n_out}, x.options());
  // bitsandbytes: a float16 bias is fused into the dequantization; any other is added after.
  // Read as float32 (exact for float16, bfloat16 and float32 biases).
  const bool bias_is_half = bias_in.defined() && bias_in.scalar_type() == at::kHalf;
  at::Tensor bias = bias_in.defined() ? bias_in.to(at::kFloat).contiguous() : at::Tensor();
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "qrun_int8_small_linear", [&] {
    if (one_block)
      small_quant_kernel<scalar_t><<<1, 1024, 0, stream>>>(x.data_ptr<scalar_t>(), codes.data_ptr<std::int8_t>(),
                                                           absmax.data_ptr<float>(), flags.data_ptr<int>(),
                                                           static_cast<int>(rows), static_cast<int>(cols), thr, sparse);
    else
      rows_quant_kernel<scalar_t, int><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
          x.data_ptr<scalar_t>(), codes.data_ptr<std::int8_t>(), absmax.data_ptr<float>(), flags.data_ptr<int>(),
          static_cast<int>(cols), thr, sparse);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const unsigned threads = 256, warps_per_block = threads / 32;
    const unsigned blocks = static_cast<unsigned>((n_out + warps_per_block - 1) / warps_per_block);
    small_gemv_kernel<scalar_t, 16><<<blocks, threads, 0, stream>>>(
        x.data_ptr<scalar_t>(), codes.data_ptr<std::int8_t>(), absmax.data_ptr<float>(), flags.data_ptr<int>(),
        cb.data_ptr<std::int8_t>(), scb.data_ptr<float>(), bias.defined() ? bias.data_ptr<float>() : nullptr,
        bias_is_half, out.data_ptr<scalar_t>(), static_cast<int>(rows), static_cast<int>(n_out), static_cast<int>(cols),
        mm_scale, w_scale);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

void int8_vectorwise_quant(const at::Tensor& a_in, float thr, bool sparse, at::Tensor& codes, at::Tensor& absmax,
                           at::Tensor& outlier_flags) {
  at::Tensor a = a_in.contiguous();
  TORCH_CHECK(a.is_cuda() && a.scalar_type() == at::kHalf && a.dim() == 2, "int8_vectorwise_quant: [M, K] float16 CUDA");
  const auto rows = a.size(0), cols = a.size(1);
  codes = at::empty({rows, cols}, a.options().dtype(at::kChar));
  absmax = at::empty({rows}, a.options().dtype(at::kFloat));
  outlier_flags = at::zeros({cols}, a.options().dtype(at::kBool));
  if (rows == 0) return;
  rows_quant_kernel<__half, bool><<<static_cast<unsigned>(rows), 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __half*>(a.data_ptr<at::Half>()), codes.data_ptr<std::int8_t>(), absmax.data_ptr<float>(),
      outlier_flags.data_ptr<bool>(), static_cast<int>(cols), thr, sparse);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor int8_mm_dequant(const at::Tensor& acc_in, const at::Tensor& row_absmax, const at::Tensor& col_absmax,
                           const at::Tensor& bias_f16, float scale) {
  at::Tensor acc = acc_in.contiguous();
  at::Tensor row = row_absmax.to(at::kFloat).contiguous(), col = col_absmax.to(at::kFloat).contiguous();
  at::Tensor bias = bias_f16.defined() ? bias_f16.contiguous() : at::Tensor();
  const auto rows = acc.size(0), cols = acc.size(1);
  at::Tensor out = at::empty({rows, cols}, acc.options().dtype(at::kHalf));
  const std::int64_t n = rows * cols;
  if (n == 0) return out;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((n + 255) / 256, 65535));
  mm_dequant_kernel<<<blocks, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      acc.data_ptr<std::int32_t>(), row.data_ptr<float>(), col.data_ptr<float>(),
      bias.defined() ? reinterpret_cast<const __half*>(bias.data_ptr<at::Half>()) : nullptr,
      reinterpret_cast<__half*>(out.data_ptr<at::Half>()), rows, cols, scale);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace qrun::quant::cuda
