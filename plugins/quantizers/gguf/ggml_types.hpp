// ggml's tensor types (ggml-org/ggml, commit d99724f2: include/ggml.h `enum ggml_type`, src/ggml.c
// `type_traits`): their numeric ids as GGUF stores them, names as `ggml_type_name` prints them,
// block sizes and bytes per block; and, for the types qrun implements, quantization and
// dequantization byte-exact to ggml's C reference code (src/ggml-quants.c).
//
// Implemented (quantize and dequantize): q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl
// iq4_xs mxfp4, plus the plain f32 f16 bf16. Every other ggml type is known by name and size (a
// GGUF file holding it can be read and validated) but not converted.
//
// Pure C++ (no libtorch). Inputs and outputs are float32, as `llama-quantize` converts an f16/bf16
// tensor to float32 before quantizing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::gguf {

// Values are ggml's (and GGUF's) type ids; gaps are ids ggml removed.
enum class GgmlType : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41, q2_0 = 42,
};

struct TypeTraits {
  GgmlType type;
  const char* name;          // ggml_type_name: "q4_0", "q4_K", "iq4_nl", "mxfp4", ...
  std::int64_t block_size;   // values per block (1 for plain types)
  std::size_t type_size;     // bytes per block
  bool implemented;          // qrun can quantize (from float32) and dequantize this type
};

// The traits of a known type id; nullopt for an id ggml does not define (an unknown GGUF type).
std::optional<TypeTraits> type_traits(std::uint32_t id);
const TypeTraits& traits(GgmlType type);  // a known enumerator
inline const char* type_name(GgmlType type) { return traits(type).name; }

// Every type ggml defines, in id order; and the subset qrun quantizes to.
std::span<const TypeTraits> all_types();
std::vector<GgmlType> quantized_types();  // q4_0 ... mxfp4 (no f32/f16/bf16)

// A type name as ggml_type_name prints it, compared case-insensitively ("Q4_K", "q4_k", "IQ4_NL").
std::optional<GgmlType> parse_type(std::string_view name);

// Bytes of one row of n_per_row values (ggml_row_size); n_per_row must be a multiple of the block size.
std::size_t row_size(GgmlType type, std::int64_t n_per_row);

// ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix): quantizes nrows rows of
// n_per_row float32 values into nrows * row_size bytes at dst. `imatrix` is null or n_per_row
// importance weights (one per column). Which code path runs, as in ggml:
//   q4_0 q4_1 q5_0 q5_1 q2_K..q6_K  without imatrix: quantize_row_*_ref; with: the *_impl search
//   q8_0 mxfp4                       always quantize_row_*_ref (an imatrix is ignored)
//   iq4_nl iq4_xs                    always the iq4_nl_impl search (7 tries), weights x^2 without imatrix
// Preconditions (checked by the callers that take user input): `type` implemented and quantized,
// n_per_row a multiple of the block size, dst 2-byte aligned. Returns the bytes written.
std::size_t quantize_rows(GgmlType type, const float* src, void* dst, std::int64_t nrows, std::int64_t n_per_row,
                          const float* imatrix);

// to_float (dequantize_row_*): k values (a multiple of the block size) from their blocks.
// `src` needs no alignment. Precondition: `type` implemented.
void dequantize_values(GgmlType type, const void* src, float* dst, std::int64_t k);

}  // namespace qrun::gguf
