// AWQ on one decoder layer through the public Model API (mit-han-lab/llm-awq pre_quant.py
// run_awq, one iteration of its layer loop): collect the layer's linear inputs on the calibration
// windows, search the four scales of auto_scale_block on the unchanged layer, apply them
// (apply_scale: into the preceding norm weight, which other_tensors() aliases, or the preceding
// linear's rows), then search the clipping of every projection but q and k (auto_clip_block).
#pragma once

#include "awq_search.hpp"

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace qrun::awq {

// One decoder layer's projections by role (empty: absent), and its norms' names in other_tensors().
struct Block {
  std::int64_t index = -1;
  std::string q, k, v, o, gate, up, down;
  std::string attn_norm, mlp_norm;
  bool gemma_norm = false;  // Gemma's RMSNorm multiplies by (1 + weight)
};
// The blocks of a Llama-style model (q/k/v/o_proj, gate/up/down_proj, input_layernorm and
// post_attention_layernorm or pre_feedforward_layernorm), or an error naming what is missing.
Result<std::vector<Block>> find_blocks(Model& model);

struct BlockOptions {
  QConfig q;
  bool auto_scale = true;   // run_awq(auto_scale=True)
  bool auto_clip = true;    // run_awq(mse_range=True)
  int n_grid = 20;
  std::int64_t batch_size = 8;
};

// Runs scale search + application and clip search for one block. Clipping is not applied here
// (run_awq feeds the next layer the outputs of the unclipped layer); the per-group max values are
// added to `clips` by layer name. `report` receives the chosen ratios and losses.
Result<void> process_block(Model& model, const Block& block, const at::Tensor& windows, const BlockOptions& options,
                           std::map<std::string, at::Tensor>& clips, nlohmann::json& report);

}  // namespace qrun::awq
