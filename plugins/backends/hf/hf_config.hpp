// config.json / generation_config.json of a Hugging Face Qwen2 or Llama checkpoint -> ModelConfig.
// Fields qrun does not implement are refused by name rather than ignored.
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <filesystem>
#include <string>

namespace qrun::hf {

struct HfConfig {
  ModelConfig model;
  std::string torch_dtype;  // "float32", "bfloat16", "float16" ("" when config.json names none)
};

// Parses `folder`/config.json and, when present, `folder`/generation_config.json (eos ids merged).
Result<HfConfig> read_config(const std::filesystem::path& folder);

}  // namespace qrun::hf
