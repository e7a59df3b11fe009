// Computing an importance matrix with qrun as llama-imatrix does (ggml-org/llama.cpp
// tools/imatrix/imatrix.cpp: compute_imatrix and IMatrixCollector::collect_imatrix), and reading /
// writing it in any of the three formats of imatrix.hpp.
//
// Data (Sampling "chunks", llama-imatrix's): the calibration file's texts (qrun/calibration.hpp
// read_texts: a text file is one text) are tokenized in file order with the tokenizer's special
// tokens and concatenated; the stream is cut into consecutive chunks of chunk_size tokens (n_ctx,
// default 512) and the first token of each chunk is replaced by BOS when the tokenizer adds one;
// n_chunks = 0 takes every whole chunk (llama-imatrix --chunks -1). Sampling "random": GPTQ's
// random windows after random.seed(seed) (calibration::Sampling::random_windows), no BOS.
// Accumulation: every linear layer of a decoder block (llama.cpp names "blk.*"), and lm_head only
// with process_output (llama-imatrix --process-output), observed through calibration::run; per
// input column j, in_sum2_j += x_j^2 over every token row x of the layer's input, count += rows.
// llama-imatrix adds float32 squares to a float32 running sum in token order; qrun sums in float64
// and rounds once to float32, so the two agree to float32 rounding of the sum (not bit for bit).
// llama-imatrix skips matrix multiplications of fewer than 16 token rows: chunk sizes below 16
// are refused rather than silently collecting nothing.
#pragma once

#include "imatrix.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace qrun::gguf {

struct ImatrixSpec {
  std::filesystem::path calibration;  // calibration file (text, JSON list, qrun calibration JSON)
  std::int64_t n_chunks = 0;          // chunks (windows) to use; 0: every whole chunk ("chunks") / 128 ("random")
  std::int64_t chunk_size = 512;      // tokens per chunk (llama-imatrix -c, its default 512)
  std::string sampling = "chunks";    // "chunks" (llama-imatrix) or "random" (GPTQ's windows)
  std::uint64_t seed = 0;             // "random" only
  bool process_output = false;        // also lm_head (llama.cpp's output.weight)
  std::int64_t batch_size = 4;        // chunks per forward
};

struct ImatrixResult {
  Imatrix imatrix;         // entries under the model's layer names
  nlohmann::json record;   // provenance: calibration file, sha256, format, chunks, tokens, sampling
};

Result<ImatrixResult> compute_imatrix(Model& model, const ImatrixSpec& spec, RunContext& ctx);

// The same entries under llama.cpp's names (llama_types.hpp llama_tensor_name).
Imatrix with_llama_names(const Imatrix& im);

// Reads any of the three formats (sniff_imatrix_format); `dat_chunk_size` as read_imatrix_dat.
Result<Imatrix> read_imatrix(const std::filesystem::path& path, std::int64_t dat_chunk_size = 512);
// Writes by extension (.gguf, .dat: llama.cpp's names; .safetensors: the names as given, one
// float32 mean vector [ncols] per entry, [nmat, ncols] for expert tensors).
Result<void> write_imatrix(const std::filesystem::path& path, const Imatrix& im);

}  // namespace qrun::gguf
