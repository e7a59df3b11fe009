// GGUF model export: a model quantized by the gguf transform (or left in float) written as the GGUF
// v3 file llama.cpp's convert_hf_to_gguf.py + llama-quantize would write for it: general.* and the
// `<arch>.*` hyperparameters, the tokenizer (tokenizer.ggml.*) from tokenizer.json, and every
// tensor under llama.cpp's name and layout (gguf_names.hpp), quantized layers as their ggml blocks.
#pragma once

#include "gguf_file.hpp"
#include "gguf_names.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun::gguf {

struct ExportRequest {
  std::filesystem::path out;        // the .gguf file to write (replaced atomically)
  std::string file_type;            // "Q4_K_M", "q8_0", "f16", ... (general.file_type)
  at::Tensor embedding_blocks;      // the token embedding's ggml blocks (undefined: written in float)
  std::optional<GgmlType> embedding_type;
};

// Writes the file; returns a one-line summary. Reads config.json, tokenizer.json and
// tokenizer_config.json from the model's source folder.
Result<std::string> export_gguf(Model& model, const ExportRequest& request, RunContext& ctx);

// --- metadata (gguf_export_meta.cpp) ---

// general.file_type: llama.cpp's llama_ftype of a mix or plain type name (nullopt: unknown).
std::optional<std::uint32_t> llama_ftype(const std::string& name);

struct ArchMetadata {
  std::vector<KeyValue> kv;            // general.* and <arch>.* keys
  std::vector<float> rope_freqs;       // Llama 3 RoPE: rope_freqs.weight (empty: none)
};
// The keys convert_hf_to_gguf.py writes for this config.json (`where`: the file, for errors).
Result<ArchMetadata> arch_metadata(Arch arch, const nlohmann::json& config, const std::string& where,
                                   const std::string& model_name, std::uint32_t file_type);

// tokenizer.ggml.* from tokenizer.json / tokenizer_config.json / config.json of `folder`;
// `n_vocab`: the embedding rows (the token list is padded with "[PAD<id>]" up to it).
Result<std::vector<KeyValue>> tokenizer_metadata(const std::filesystem::path& folder, std::int64_t n_vocab);

}  // namespace qrun::gguf
