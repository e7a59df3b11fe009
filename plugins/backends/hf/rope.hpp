// Rotary position embeddings as transformers computes them: the inverse frequencies of each
// rope_type (modeling_rope_utils.py ROPE_INIT_FUNCTIONS and the models' default), the
// attention scaling applied to cos/sin, and the per-forward updates of the "dynamic" and
// "longrope" types (dynamic_rope_update). Every step is the ATen operation transformers runs, in
// float32, so the tables agree bit for bit with the same libtorch.
#pragma once

#include "arch.hpp"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace qrun::hf {

class Rotary {
 public:
  // `spec` checked by hf_config.cpp; `head_dim` of the attention heads; `max_position_embeddings`
  // from config.json (dynamic and a derived yarn/longrope factor read it).
  Rotary(const RopeSpec& spec, std::int64_t head_dim, std::int64_t max_position_embeddings, c10::Device device);

  std::int64_t dim() const { return dim_; }  // rotated dimensions per head
  double attention_scaling() const { return attention_scaling_; }
  const at::Tensor& inv_freq() const { return inv_freq_; }  // float32 [dim / 2], the initial one

  // cos/sin [B, 1, T, dim] in `dtype` for `positions` [B, T] int64 on the device (RotaryEmbedding
  // .forward: freqs = positions * inv_freq in float32, emb = cat(freqs, freqs), cos/sin times the
  // attention scaling, cast). A dynamic table is updated first, a longrope table chosen first, from
  // max(positions) + 1 on the device (no host synchronisation: safe inside a CUDA graph).
  void tables(const at::Tensor& positions, c10::ScalarType dtype, at::Tensor& cos, at::Tensor& sin);

  Rotary clone_to(c10::Device device) const;

 private:
  Rotary() = default;
  at::Tensor dynamic_inv_freq(const at::Tensor& seq_len) const;

  RopeSpec spec_;
  std::int64_t dim_ = 0, max_pos_ = 0;
  double attention_scaling_ = 1.0;
  at::Tensor inv_freq_;       // the table at initialisation (longrope: short factors)
  at::Tensor long_inv_freq_;  // longrope: long factors
  at::Tensor current_;        // dynamic: transformers' inv_freq buffer after the last forward
};

}  // namespace qrun::hf
