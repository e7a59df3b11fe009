// The RoPE parameters of config.json in either form, as transformers 5 standardises them
// (RotaryEmbeddingConfigMixin.convert_rope_params_to_dict / standardize_rope_params):
//   transformers 4: top-level rope_theta (+ partial_rotary_factor) and rope_scaling {type or
//     rope_type, ...}; Gemma 3 also rope_local_base_freq for its sliding layers;
//   transformers 5: rope_parameters {rope_type, rope_theta, ...}, for Gemma 3 nested by layer
//     type {"full_attention": {...}, "sliding_attention": {...}}.
// Types and keys qrun does not implement are refused by name.
#pragma once

#include "arch.hpp"
#include "config_json.hpp"

#include <optional>

namespace qrun::hf {

struct RopeConfig {
  RopeSpec full;                  // full-attention layers (all layers unless `sliding` is set)
  std::optional<RopeSpec> sliding;  // Gemma 3's sliding layers
};

// `top`: config.json; `max_position_embeddings` fills original_max_position_embeddings where
// transformers does (llama3, yarn, longrope without one); `head_dim` sizes longrope's factor lists.
Result<RopeConfig> read_rope(const JsonReader& top, Family family, std::int64_t max_position_embeddings,
                             std::int64_t head_dim);

}  // namespace qrun::hf
