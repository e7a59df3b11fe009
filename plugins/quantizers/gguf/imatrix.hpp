// Importance matrices as llama.cpp's llama-imatrix computes and stores them and llama-quantize
// reads them (ggml-org/llama.cpp tools/imatrix/imatrix.cpp, tools/quantize/quantize.cpp).
//
// What one entry holds. For each weight W (by name) llama-imatrix sums, over every token row x of
// the matrix multiplication's input (the activations entering W, float32), the squares x_j^2 per
// input column j ("in_sum2"), and counts the rows ("counts"). A 3-D expert tensor has one such
// [ncols] block and one count per expert (nmat > 1); dense weights have nmat = 1. llama-quantize
// uses per column mean = in_sum2 / count (in float32), and 1 where a matrix has count 0.
//
// Files (all little-endian):
//   GGUF (llama-imatrix's default since 2025): metadata general.type = "imatrix",
//     imatrix.datasets (array of strings), imatrix.chunk_count (u32), imatrix.chunk_size (u32);
//     per entry, in names sorted as strings, "<name>.in_sum2" F32 ne = [ncols, nmat] and
//     "<name>.counts" F32 ne = [1, nmat] (trailing dimensions of 1 dropped, as ggml writes them).
//     Newer llama-imatrix versions add "<name>.in_sum" (sums of x); it is read and ignored.
//   legacy .dat: int32 n_entries; per entry int32 name length, name bytes, int32 ncall, int32 nval,
//     float32[nval] = (in_sum2 / count) * ncall with ncall = ceil(max count / chunk_size); then
//     int32 chunk count and int32 length + bytes of the dataset file name. llama-quantize's mean is
//     value / ncall. Reading, entries get llama-imatrix's own state back: in_sum2 = value *
//     chunk_size, count = ncall * chunk_size (a power-of-two chunk size keeps the mean exact).
//   safetensors (qrun's, the gguf plugin's older input): one float32 [ncols] tensor per weight,
//     the mean itself; read as in_sum2 = mean, count = 1.
// Names: GGUF and .dat files name weights as llama.cpp does ("blk.0.attn_q.weight", see
// llama_types.hpp llama_tensor_name); qrun computes entries under its layer names and writes
// those files with llama.cpp's names, safetensors files with the layer names.
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qrun::gguf {

struct ImatrixEntry {
  std::int64_t ncols = 0;
  std::int64_t nmat = 1;
  std::vector<float> in_sum2;  // [nmat * ncols], matrix-major
  std::vector<float> counts;   // [nmat]
  // llama-quantize's importance: in_sum2 / count per matrix (float32 division), 1 for count <= 0.
  std::vector<float> mean() const;
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;
  std::vector<std::string> datasets;  // imatrix.datasets (.dat: the one dataset name)
  std::int64_t chunk_count = 0;       // imatrix.chunk_count
  std::int64_t chunk_size = 0;        // imatrix.chunk_size (tokens per chunk; .dat: as given to the reader)
};

enum class ImatrixFormat { gguf, dat, safetensors };
const char* imatrix_format_name(ImatrixFormat f);  // "gguf", "dat", "safetensors"
// The format to write by the file's extension: .gguf, .dat, .safetensors; else an error.
Result<ImatrixFormat> imatrix_format_for_output(const std::filesystem::path& path);
// The format of an existing file by its first bytes: "GGUF" magic; a safetensors header (u64
// length then '{'); anything else is read as .dat.
Result<ImatrixFormat> sniff_imatrix_format(const std::filesystem::path& path);

Result<Imatrix> read_imatrix_gguf(const std::filesystem::path& path);
Result<void> write_imatrix_gguf(const std::filesystem::path& path, const Imatrix& im);
// `chunk_size`: llama-imatrix's n_ctx when it reads a .dat (not stored in the file); default 512.
Result<Imatrix> read_imatrix_dat(const std::filesystem::path& path, std::int64_t chunk_size = 512);
// Entries whose counts are all zero are left out, as llama-imatrix does; chunk_size must be > 0.
Result<void> write_imatrix_dat(const std::filesystem::path& path, const Imatrix& im);

// llama.cpp's name -> the Hugging Face layer name of the Llama family (inverse of
// llama_tensor_name for linear layers): "blk.3.attn_v.weight" -> "model.layers.3.self_attn.v_proj",
// "output.weight" -> "lm_head"; other names unchanged. attn_qkv -> self_attn.qkv_proj,
// ffn_up -> mlp.up_proj.
std::string hf_layer_name(const std::string& llama_name);

// The entry for a layer: under its name, name + ".weight", or llama.cpp's name; nullptr if none.
const ImatrixEntry* find_imatrix_entry(const Imatrix& im, const std::string& layer);

}  // namespace qrun::gguf
