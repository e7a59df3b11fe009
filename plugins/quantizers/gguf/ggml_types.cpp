// ggml's type table (src/ggml.c type_traits, commit d99724f2) and the dispatch of
// ggml_quantize_chunk / to_float to the per-type code.
#include "ggml_types.hpp"

#include "ggml_blocks.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace qrun::gguf {
namespace {

static_assert(std::endian::native == std::endian::little, "ggml blocks are stored little-endian");

using detail::QK_K;

// {type, ggml_type_name, block size, bytes per block, implemented here}
constexpr std::array<TypeTraits, 35> kTypes = {{
    {GgmlType::f32, "f32", 1, 4, true},
    {GgmlType::f16, "f16", 1, 2, true},
    {GgmlType::q4_0, "q4_0", 32, sizeof(detail::BlockQ4_0), true},
    {GgmlType::q4_1, "q4_1", 32, sizeof(detail::BlockQ4_1), true},
    {GgmlType::q5_0, "q5_0", 32, sizeof(detail::BlockQ5_0), true},
    {GgmlType::q5_1, "q5_1", 32, sizeof(detail::BlockQ5_1), true},
    {GgmlType::q8_0, "q8_0", 32, sizeof(detail::BlockQ8_0), true},
    {GgmlType::q8_1, "q8_1", 32, 36, false},
    {GgmlType::q2_K, "q2_K", QK_K, sizeof(detail::BlockQ2_K), true},
    {GgmlType::q3_K, "q3_K", QK_K, sizeof(detail::BlockQ3_K), true},
    {GgmlType::q4_K, "q4_K", QK_K, sizeof(detail::BlockQ4_K), true},
    {GgmlType::q5_K, "q5_K", QK_K, sizeof(detail::BlockQ5_K), true},
    {GgmlType::q6_K, "q6_K", QK_K, sizeof(detail::BlockQ6_K), true},
    {GgmlType::q8_K, "q8_K", QK_K, 292, false},
    {GgmlType::iq2_xxs, "iq2_xxs", QK_K, 66, false},
    {GgmlType::iq2_xs, "iq2_xs", QK_K, 74, false},
    {GgmlType::iq3_xxs, "iq3_xxs", QK_K, 98, false},
    {GgmlType::iq1_s, "iq1_s", QK_K, 50, false},
    {GgmlType::iq4_nl, "iq4_nl", 32, sizeof(detail::BlockIQ4_NL), true},
    {GgmlType::iq3_s, "iq3_s", QK_K, 110, false},
    {GgmlType::iq2_s, "iq2_s", QK_K, 82, false},
    {GgmlType::iq4_xs, "iq4_xs", QK_K, sizeof(detail::BlockIQ4_XS), true},
    {GgmlType::i8, "i8", 1, 1, false},
    {GgmlType::i16, "i16", 1, 2, false},
    {GgmlType::i32, "i32", 1, 4, false},
    {GgmlType::i64, "i64", 1, 8, false},
    {GgmlType::f64, "f64", 1, 8, false},
    {GgmlType::iq1_m, "iq1_m", QK_K, 56, false},
    {GgmlType::bf16, "bf16", 1, 2, true},
    {GgmlType::tq1_0, "tq1_0", QK_K, 54, false},
    {GgmlType::tq2_0, "tq2_0", QK_K, 66, false},
    {GgmlType::mxfp4, "mxfp4", 32, sizeof(detail::BlockMXFP4), true},
    {GgmlType::nvfp4, "nvfp4", 64, 36, false},
    {GgmlType::q1_0, "q1_0", 128, 18, false},
    {GgmlType::q2_0, "q2_0", 64, 18, false},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Runs `fn(aligned_dst)` on dst, or on an aligned scratch copied to dst afterwards when dst is not
// 2-byte aligned (the block structs hold uint16 fields).
template <class Fn>
void with_aligned_out(void* dst, std::size_t bytes, Fn fn) {
  if (reinterpret_cast<std::uintptr_t>(dst) % alignof(std::uint16_t) == 0) return fn(dst);
  std::vector<std::uint16_t> scratch((bytes + 1) / 2);
  fn(scratch.data());
  std::memcpy(dst, scratch.data(), bytes);
}

// One row with ggml's per-type entry: `ref` without weights, `impl` with them (k-quants, legacy).
template <class Block>
void rows_ref_or_impl(const float* src, void* dst, std::int64_t nrows, std::int64_t n_per_row, const float* imatrix,
                      void (*ref)(const float*, Block*, std::int64_t),
                      void (*impl)(const float*, Block*, std::int64_t, const float*), std::size_t rsize) {
  auto* out = static_cast<std::uint8_t*>(dst);
  if (!imatrix) return ref(src, reinterpret_cast<Block*>(out), nrows * n_per_row);
  for (std::int64_t r = 0; r < nrows; ++r) impl(src + r * n_per_row, reinterpret_cast<Block*>(out + r * rsize), n_per_row, imatrix);
}

template <class Block>
void rows_with_weights(const float* src, void* dst, std::int64_t nrows, std::int64_t n_per_row, const float* imatrix,
                       void (*row)(const float*, Block*, std::int64_t, const float*), std::size_t rsize) {
  auto* out = static_cast<std::uint8_t*>(dst);
  for (std::int64_t r = 0; r < nrows; ++r) row(src + r * n_per_row, reinterpret_cast<Block*>(out + r * rsize), n_per_row, imatrix);
}

}  // namespace

std::optional<TypeTraits> type_traits(std::uint32_t id) {
  for (const TypeTraits& t : kTypes)
    if (static_cast<std::uint32_t>(t.type) == id) return t;
  return std::nullopt;
}

const TypeTraits& traits(GgmlType type) {
  for (const TypeTraits& t : kTypes)
    if (t.type == type) return t;
  throw std::invalid_argument("ggml type id " + std::to_string(static_cast<std::uint32_t>(type)) + " is not a ggml type");
}

std::span<const TypeTraits> all_types() { return kTypes; }

std::vector<GgmlType> quantized_types() {
  return {GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0,
          GgmlType::q2_K, GgmlType::q3_K, GgmlType::q4_K, GgmlType::q5_K, GgmlType::q6_K,
          GgmlType::iq4_nl, GgmlType::iq4_xs, GgmlType::mxfp4};
}

std::optional<GgmlType> parse_type(std::string_view name) {
  for (const TypeTraits& t : kTypes)
    if (iequals(name, t.name)) return t.type;
  return std::nullopt;
}

std::size_t row_size(GgmlType type, std::int64_t n_per_row) {
  const TypeTraits& t = traits(type);
  return t.type_size * static_cast<std::size_t>(n_per_row / t.block_size);
}

std::size_t quantize_rows(GgmlType type, const float* src, void* dst, std::int64_t nrows, std::int64_t n_per_row,
                          const float* imatrix) {
  using namespace detail;
  const std::size_t rsize = row_size(type, n_per_row);
  const std::size_t total = rsize * static_cast<std::size_t>(nrows);
  const std::int64_t n = nrows * n_per_row;
  with_aligned_out(dst, total, [&](void* out) {
    switch (type) {
      case GgmlType::f32: std::memcpy(out, src, total); break;
      case GgmlType::f16:
        for (std::int64_t i = 0; i < n; ++i) static_cast<ggml_half*>(out)[i] = fp32_to_fp16(src[i]);
        break;
      case GgmlType::bf16:
        for (std::int64_t i = 0; i < n; ++i) static_cast<std::uint16_t*>(out)[i] = fp32_to_bf16(src[i]);
        break;
      case GgmlType::q4_0: rows_ref_or_impl<BlockQ4_0>(src, out, nrows, n_per_row, imatrix, quantize_q4_0_ref, quantize_q4_0_impl, rsize); break;
      case GgmlType::q4_1: rows_ref_or_impl<BlockQ4_1>(src, out, nrows, n_per_row, imatrix, quantize_q4_1_ref, quantize_q4_1_impl, rsize); break;
      case GgmlType::q5_0: rows_ref_or_impl<BlockQ5_0>(src, out, nrows, n_per_row, imatrix, quantize_q5_0_ref, quantize_q5_0_impl, rsize); break;
      case GgmlType::q5_1: rows_ref_or_impl<BlockQ5_1>(src, out, nrows, n_per_row, imatrix, quantize_q5_1_ref, quantize_q5_1_impl, rsize); break;
      case GgmlType::q8_0: quantize_q8_0_ref(src, static_cast<BlockQ8_0*>(out), n); break;
      case GgmlType::q2_K: rows_ref_or_impl<BlockQ2_K>(src, out, nrows, n_per_row, imatrix, quantize_q2_K_ref, quantize_q2_K_impl, rsize); break;
      case GgmlType::q3_K: rows_ref_or_impl<BlockQ3_K>(src, out, nrows, n_per_row, imatrix, quantize_q3_K_ref, quantize_q3_K_impl, rsize); break;
      case GgmlType::q4_K: rows_ref_or_impl<BlockQ4_K>(src, out, nrows, n_per_row, imatrix, quantize_q4_K_ref, quantize_q4_K_impl, rsize); break;
      case GgmlType::q5_K: rows_ref_or_impl<BlockQ5_K>(src, out, nrows, n_per_row, imatrix, quantize_q5_K_ref, quantize_q5_K_impl, rsize); break;
      case GgmlType::q6_K: rows_ref_or_impl<BlockQ6_K>(src, out, nrows, n_per_row, imatrix, quantize_q6_K_ref, quantize_q6_K_impl, rsize); break;
      case GgmlType::iq4_nl: rows_with_weights<BlockIQ4_NL>(src, out, nrows, n_per_row, imatrix, quantize_iq4_nl_row, rsize); break;
      case GgmlType::iq4_xs: rows_with_weights<BlockIQ4_XS>(src, out, nrows, n_per_row, imatrix, quantize_iq4_xs_row, rsize); break;
      case GgmlType::mxfp4: quantize_mxfp4_ref(src, static_cast<BlockMXFP4*>(out), n); break;
      default:
        throw std::invalid_argument(std::string("quantize_rows: qrun does not quantize to ggml type ") + type_name(type));
    }
  });
  return total;
}

void dequantize_values(GgmlType type, const void* src, float* dst, std::int64_t k) {
  using namespace detail;
  const TypeTraits& t = traits(type);
  const std::size_t bytes = t.type_size * static_cast<std::size_t>(k / t.block_size);
  std::vector<std::uint16_t> scratch;
  if (reinterpret_cast<std::uintptr_t>(src) % alignof(std::uint16_t) != 0) {  // block structs need 2-byte alignment
    scratch.resize((bytes + 1) / 2);
    std::memcpy(scratch.data(), src, bytes);
    src = scratch.data();
  }
  switch (type) {
    case GgmlType::f32: std::memcpy(dst, src, bytes); break;
    case GgmlType::f16:
      for (std::int64_t i = 0; i < k; ++i) dst[i] = fp16_to_fp32(static_cast<const ggml_half*>(src)[i]);
      break;
    case GgmlType::bf16:
      for (std::int64_t i = 0; i < k; ++i) dst[i] = bf16_to_fp32(static_cast<const std::uint16_t*>(src)[i]);
      break;
    case GgmlType::q4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, k); break;
    case GgmlType::q4_1: dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, k); break;
    case GgmlType::q5_0: dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, k); break;
    case GgmlType::q5_1: dequantize_q5_1(static_cast<const BlockQ5_1*>(src), dst, k); break;
    case GgmlType::q8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, k); break;
    case GgmlType::q2_K: dequantize_q2_K(static_cast<const BlockQ2_K*>(src), dst, k); break;
    case GgmlType::q3_K: dequantize_q3_K(static_cast<const BlockQ3_K*>(src), dst, k); break;
    case GgmlType::q4_K: dequantize_q4_K(static_cast<const BlockQ4_K*>(src), dst, k); break;
    case GgmlType::q5_K: dequantize_q5_K(static_cast<const BlockQ5_K*>(src), dst, k); break;
    case GgmlType::q6_K: dequantize_q6_K(static_cast<const BlockQ6_K*>(src), dst, k); break;
    case GgmlType::iq4_nl: dequantize_iq4_nl(static_cast<const BlockIQ4_NL*>(src), dst, k); break;
    case GgmlType::iq4_xs: dequantize_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, k); break;
    case GgmlType::mxfp4: dequantize_mxfp4(static_cast<const BlockMXFP4*>(src), dst, k); break;
    default:
      throw std::invalid_argument(std::string("dequantize_values: qrun does not dequantize ggml type ") + type_name(type));
  }
}

}  // namespace qrun::gguf
