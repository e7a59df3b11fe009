// The linear kind "gguf": a layer holding ggml's blocks (llama.cpp's tensor bytes) packed, and
// computing with their dequantization (ggml's to_float, cast once to the model's compute dtype).
// Checkpoint state: "weight" = U8 [rows * row_size] (ggml's exact layout, rows consecutive), "bias"
// as stored; metadata {"type", "shape", "imatrix", "ggml_commit"}.
#pragma once

#include "ggml_types.hpp"

#include <qrun/linear_kind.hpp>

#include <ATen/core/Tensor.h>

#include <memory>

namespace qrun::gguf {

inline constexpr const char* kGgmlCommit = "d99724f2";  // the ggml commit the numerics reproduce

// ggml's to_float of `rows` rows of `cols` values: float32 [rows, cols] on the CPU.
at::Tensor dequantize_blocks(GgmlType type, const at::Tensor& blocks, std::int64_t rows, std::int64_t cols);

// Quantizes a float32 CPU matrix [rows, cols] (cols whole blocks of `type`) as ggml_quantize_chunk
// does, rows in parallel; `imatrix` null or float32 [cols]. Returns U8 [rows * row_size].
at::Tensor quantize_matrix(GgmlType type, const at::Tensor& x, const at::Tensor& imatrix);

// A layer from its blocks (U8, CPU), bias (may be undefined), on `device` computing in `compute`.
std::shared_ptr<LinearImpl> make_gguf_linear(GgmlType type, at::Tensor blocks, std::int64_t out, std::int64_t in,
                                             at::Tensor bias, bool imatrix, c10::Device device, c10::ScalarType compute);

// The kind's loader (qrun/linear_kind.hpp).
Result<std::shared_ptr<LinearImpl>> load_gguf_linear(const LinearState& state);

}  // namespace qrun::gguf
