// config.json / generation_config.json of a Hugging Face checkpoint -> ModelConfig + Arch, for
// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM,
// Gemma3ForCausalLM (text) and Phi3ForCausalLM, in the transformers-4 or -5 form.
// Fields qrun does not implement are refused by name rather than ignored.
#pragma once

#include "arch.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>
#include <qrun/model.hpp>

#include <filesystem>
#include <string>

namespace qrun::hf {

struct HfConfig {
  ModelConfig model;
  Arch arch;
  std::string torch_dtype;              // "float32", "bfloat16", "float16" ("" when config.json names none)
  bool has_generation_eos = false;      // generation_config.json gave eos_token_id
  // A published quantized checkpoint's settings, handed to the linear kinds of layers that carry
  // no qrun record: config.json's "quantization_config", else quantize_config.json (AutoGPTQ);
  // null when neither exists.
  nlohmann::json quantization_config;
};

// Parses `folder`/config.json and, when present, `folder`/generation_config.json (eos ids merged).
Result<HfConfig> read_config(const std::filesystem::path& folder);

}  // namespace qrun::hf
