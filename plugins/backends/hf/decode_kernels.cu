// The fused decode-step kernels (see decode_kernels.hpp). Every float32 -> dtype conversion
// rounds to nearest even, as ATen's c10::Half / c10::BFloat16 conversions do.
#include "decode_kernels.hpp"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace qrun::hf::cuda {
namespace {

template <typename T>
__device__ __forceinline__ float f32(T x) {
  return static_cast<float>(x);
}

__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) >> 5;
    v = lane < warps ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}

// One block per row. h (+)= delta rounded to T; y = T(w * T(h * rsqrt(mean(h^2) + eps))).
template <typename T>
__global__ void add_rms_norm_kernel(T* h, const T* delta, const T* w, T* y, int cols, float eps) {
  T* hr = h + static_cast<std::int64_t>(blockIdx.x) * cols;
  T* yr = y + static_cast<std::int64_t>(blockIdx.x) * cols;
  const T* dr = delta != nullptr ? delta + static_cast<std::int64_t>(blockIdx.x) * cols : nullptr;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    T v = hr[i];
    if (dr != nullptr) {
      v = static_cast<T>(f32(v) + f32(dr[i]));  // residual + sublayer output, rounded to T
      hr[i] = v;
    }
    const float x = f32(v);
    ss += x * x;
  }
  // mean as ATen's MeanOps: sum times the float factor 1 / cols
  const float inv = rsqrtf(block_sum(ss) * (1.0f / static_cast<float>(cols)) + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const T normed = static_cast<T>(f32(hr[i]) * inv);
    yr[i] = static_cast<T>(f32(w[i]) * f32(normed));
  }
}

// One block per row b. Pairs (i, i + hd/2) of q and k heads are rotated; v is copied.
template <typename T>
__global__ void rotary_cache_kernel(const T* qkv, const T* cos, const T* sin, T* q_out, T* k_cache, T* v_cache,
                                    const std::int64_t* slot, int heads, int kv_heads, int hd, std::int64_t s_max) {
  const int b = blockIdx.x;
  const int half = hd / 2;
  const int pairs = (heads + kv_heads) * half;
  const std::int64_t s = *slot;
  const T* row = qkv + static_cast<std::int64_t>(b) * (heads + 2 * kv_heads) * hd;
  const T* c = cos + static_cast<std::int64_t>(b) * hd;
  const T* sn = sin + static_cast<std::int64_t>(b) * hd;
  for (int p = threadIdx.x; p < pairs + kv_heads * hd; p += blockDim.x) {
    if (p < pairs) {
      const int head = p / half, i = p % half;
      const float x1 = f32(row[head * hd + i]), x2 = f32(row[head * hd + i + half]);
      // q * cos + rotate_half(q) * sin with rotate_half(q) = cat(-x2, x1): three roundings each
      const T lo = static_cast<T>(f32(static_cast<T>(x1 * f32(c[i]))) + f32(static_cast<T>(-x2 * f32(sn[i]))));
      const T hi = static_cast<T>(f32(static_cast<T>(x2 * f32(c[i + half]))) +
                                  f32(static_cast<T>(x1 * f32(sn[i + half]))));
      T* dst;
      if (head < heads) {
        dst = q_out + (static_cast<std::int64_t>(b) * heads + head) * hd;
      } else {
        dst = k_cache + ((static_cast<std::int64_t>(b) * kv_heads + (head - heads)) * s_max + s) * hd;
      }
      dst[i] = lo;
      dst[i + half] = hi;
    } else {
      const int e = p - pairs, kh = e / hd, i = e % hd;
      v_cache[((static_cast<std::int64_t>(b) * kv_heads + kh) * s_max + s) * hd + i] =
          row[(heads + kv_heads) * hd + kh * hd + i];
    }
  }
}

// out = T(T(silu(g)) * u), silu(g) = g / (1 + exp(-g)) in float32 as ATen's silu kernel.
template <typename T>
__global__ void silu_mul_kernel(const T* gu, T* out, std::int64_t rows, std::int64_t inter) {
  const std::int64_t n = rows * inter;
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = idx / inter, j = idx % inter;
    const float g = f32(gu[r * 2 * inter + j]);
    const T s = static_cast<T>(g / (1.0f + expf(-g)));
    out[idx] = static_cast<T>(f32(s) * f32(gu[r * 2 * inter + inter + j]));
  }
}

void check_cuda_contiguous(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "qrun decode kernels: ", what, " must be a contiguous CUDA tensor");
}

}  // namespace

at::Tensor add_rms_norm(at::Tensor& h, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  check_cuda_contiguous(h, "h");
  const auto cols = h.size(-1), rows = h.numel() / cols;
  at::Tensor w = weight.to(h.scalar_type()).contiguous();
  at::Tensor d = delta.defined() ? delta.to(h.scalar_type()).contiguous() : at::Tensor();
  at::Tensor y = at::empty_like(h);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, h.scalar_type(), "qrun_add_rms_norm", [&] {
    add_rms_norm_kernel<scalar_t><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
        h.data_ptr<scalar_t>(), d.defined() ? d.data_ptr<scalar_t>() : nullptr, w.data_ptr<scalar_t>(),
        y.data_ptr<scalar_t>(), static_cast<int>(cols), static_cast<float>(eps));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

at::Tensor rotary_and_cache(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, std::int64_t heads,
                            std::int64_t kv_heads, at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& slot) {
  check_cuda_contiguous(qkv, "qkv");
  check_cuda_contiguous(k_cache, "k_cache");
  check_cuda_contiguous(v_cache, "v_cache");
  const auto b = qkv.size(0), hd = k_cache.size(3), s_max = k_cache.size(2);
  TORCH_CHECK(qkv.size(-1) == (heads + 2 * kv_heads) * hd, "qrun decode kernels: qkv width");
  at::Tensor c = cos.reshape({b, hd}).contiguous(), sn = sin.reshape({b, hd}).contiguous();
  at::Tensor q = at::empty({b, heads, hd}, qkv.options());
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, qkv.scalar_type(), "qrun_rotary_and_cache", [&] {
    rotary_cache_kernel<scalar_t><<<static_cast<unsigned>(b), 256, 0, stream>>>(
        qkv.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), sn.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(),
        k_cache.data_ptr<scalar_t>(), v_cache.data_ptr<scalar_t>(), slot.data_ptr<std::int64_t>(),
        static_cast<int>(heads), static_cast<int>(kv_heads), static_cast<int>(hd), s_max);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return q;
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  check_cuda_contiguous(gate_up, "gate_up");
  const auto inter = gate_up.size(-1) / 2, rows = gate_up.numel() / gate_up.size(-1);
  std::vector<std::int64_t> shape = gate_up.sizes().vec();
  shape.back() = inter;
  at::Tensor out = at::empty(shape, gate_up.options());
  const std::int64_t n = rows * inter;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((n + 255) / 256, 4096));
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gate_up.scalar_type(), "qrun_silu_mul", [&] {
    silu_mul_kernel<scalar_t><<<blocks, 256, 0, stream>>>(gate_up.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), rows,
                                                          inter);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace qrun::hf::cuda
