// The "gguf_file" backend: a llama.cpp GGUF file (or a folder holding one) loaded as the hf backend's
// model, the inverse of qrun's GGUF export (plugins/quantizers/gguf/gguf_export.hpp):
//   <arch>.* keys        -> a transformers-4 config.json (gguf_config.cpp), read by the hf backend
//   tokenizer.ggml.*     -> tokenizer.json + tokenizer_config.json (gguf_vocab.cpp), loaded by
//                           qrun's tokenizer: the same in-memory tokenizer tokenizer.json gives
//   tensors              -> HF names and layouts (gguf_tensors.cpp): linear layers as the "gguf"
//                           linear kind (ggml blocks kept packed, dequantized for compute), the
//                           rest dequantized to float32; Llama q/k rows and Gemma norms restored
#pragma once

#include "gguf_file.hpp"
#include "gguf_names.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

namespace qrun::gguf_backend {

struct Params {
  std::string path;              // a .gguf file, or a folder with exactly one
  std::string dtype = "auto";    // float32 | bfloat16 | float16 | auto (float32, as llama.cpp computes)
  std::string device = "auto";   // cpu | cuda | cuda:N | auto (the run's device)
};

Result<std::unique_ptr<Model>> load_gguf_model(const Params& params, RunContext& ctx);

// The architecture of the file (general.architecture), or an Error naming it.
Result<gguf::Arch> file_arch(const gguf::GgufFile& f);

// config.json (transformers 4 form) from the file's <arch>.* keys and tensor shapes.
Result<nlohmann::json> config_from_gguf(const gguf::GgufFile& f, gguf::Arch arch);

struct TokenizerFiles {
  nlohmann::json tokenizer;         // tokenizer.json
  nlohmann::json tokenizer_config;  // tokenizer_config.json
};
Result<TokenizerFiles> tokenizer_from_gguf(const gguf::GgufFile& f);

struct Tensors {
  std::map<std::string, at::Tensor> tensors;       // HF names; CPU
  std::map<std::string, std::string> metadata;     // "qrun.linear.<layer>" entries of the gguf kind
};
// Every tensor under its HF name: linear weights as ggml blocks (U8) with their kind metadata,
// everything else float32. n_head / n_head_kv undo Llama's q/k permutation.
Result<Tensors> tensors_from_gguf(const gguf::GgufFile& f, gguf::Arch arch, std::int64_t n_head, std::int64_t n_head_kv);

}  // namespace qrun::gguf_backend
