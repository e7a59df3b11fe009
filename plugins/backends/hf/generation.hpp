// The pieces both generation loops share (generate.cpp: dynamic cache; static_generate.cpp:
// static cache and CUDA graphs): prompt checks, left padding, and the next-token choice.
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace qrun::hf {

// Every prompt non-empty and inside the vocabulary; sampling settings in range.
Result<void> check_prompts(const std::vector<std::vector<std::int64_t>>& prompts, const GenerationConfig& g,
                           std::int64_t vocab);

// Left-padded prompts on `device`: ids/mask [B, T] int64 (padding: id 0, mask 0) and positions
// counting real tokens (cumsum(mask) - 1, padding 1), as transformers' generate() builds them.
struct PackedPrompts {
  at::Tensor ids, mask, positions;
};
PackedPrompts pack_prompts(const std::vector<std::vector<std::int64_t>>& prompts, c10::Device device);

// scores [B, V] float32 -> next ids [B] (CPU int64): greedy argmax (lowest id on ties, as
// torch.argmax), or temperature / top-k / top-p sampling: one uniform per row from the seeded CPU
// generator, located in the row's cumulative distribution on the scores' device.
at::Tensor choose(at::Tensor scores, const GenerationConfig& g, at::Generator& gen);

// Per-row bookkeeping of a generation: tokens up to and including the first stop token, and
// the time each row spent (prefill: to its first token; decode: while it was still running).
class RowRecorder {
 public:
  RowRecorder(std::size_t rows, std::vector<std::int64_t> stops);
  // Appends ids[i] to every running row (ids: host, one per row); true once every row stopped.
  bool add(const std::int64_t* ids);
  bool all_done() const;
  void add_prefill_seconds(double s);
  void add_decode_seconds(double s);  // to the rows still running
  std::vector<Generation> take() { return std::move(out_); }

 private:
  std::vector<Generation> out_;
  std::vector<bool> done_;
  std::vector<std::int64_t> stops_;
};

}  // namespace qrun::hf
