// Fine-tuning for the quantization-conditioned attack (Egashira et al., "Exploiting LLM
// Quantization", NeurIPS 2024, sec. 3; code eth-sri/llm-quantization-attack): supervised
// fine-tuning on (prompt, response) pairs with AdamW, gradient accumulation and a warmup + cosine
// schedule, optionally with projected gradient descent (PGD) into per-weight boxes.
//
// Training needs autograd, and the backends' forward passes run under c10::InferenceMode, so the
// trainer runs its own differentiable copy of the decoder (Llama / Mistral / Qwen2 layout, float32,
// eager attention as transformers' modeling_llama.py) over float32 copies of the model's weights,
// and writes the trained weights back into the Model at the end. Before the first step it checks
// that its logits equal the backend's on the first batch (|diff| <= 1e-4 * max(1, max|logit|));
// an architecture it does not reproduce (rope scaling, q/k norms, Gemma norms) fails there.
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qrun {
class RunContext;
}

namespace qrun::attack {

// One supervised example: the loss is the NLL of `response` given `prompt` (prompt tokens are not
// scored), as in AutoPoison's SFT data collator.
struct Example {
  std::vector<std::int64_t> prompt;
  std::vector<std::int64_t> response;
};

// The interval each weight of one linear layer must stay in: float32 [out, in], CPU. lo == hi
// freezes an element (the absmax of its block/row, or an empty intersection).
struct LayerBox {
  at::Tensor lo, hi;
};
using BoxMap = std::map<std::string, LayerBox>;  // linear layer name -> box

struct TrainConfig {
  std::int64_t steps = 100;          // optimiser steps
  double lr = 1e-3;                  // peak learning rate
  double weight_decay = 0.0;         // AdamW's decoupled decay (the paper: 0)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::int64_t batch_size = 16;      // examples per micro-batch
  std::int64_t grad_accum = 1;       // micro-batches per optimiser step
  double warmup_ratio = 0.03;        // linear warmup over ceil(ratio * steps) steps, then cosine to 0
  bool train_embeddings = true;      // without boxes: also train the embeddings (and a tied lm_head)
  bool train_norms = true;           // without boxes: also train the RMSNorm weights
  std::uint64_t seed = 0;            // example order
};

struct TrainLog {
  std::vector<double> loss;              // per step: mean response-token NLL (nats) over its micro-batches
  std::int64_t trained_parameters = 0;   // elements that received updates
  double parity_max_abs_diff = 0;        // trainer vs backend logits on the first batch
  double seconds = 0;
  // PGD only (boxes given): every boxed weight, and those that changed / are frozen.
  std::int64_t boxed = 0, moved = 0, frozen = 0;
  std::int64_t box_violations = 0;       // weights outside their box after training (must be 0)
};

// The learning rate of step `step` (0-based) of `total`: transformers'
// get_cosine_schedule_with_warmup (warmup steps = ceil(warmup_ratio * total)).
double scheduled_lr(const TrainConfig& c, std::int64_t step, std::int64_t total);

// Fine-tunes `model` (float32 storage and compute, CPU or CUDA) on `data`. Without `boxes`: every
// dense linear layer, plus embeddings / norms as the config says. With `boxes`: only the boxed
// layers train (the paper freezes everything else during repair), and after every optimiser step
// each boxed weight is clamped into [lo, hi]. The trained weights replace the model's (dense
// float32 layers; other tensors updated in place). Deterministic for a seed on the CPU for a
// fixed thread count.
Result<TrainLog> train(Model& model, const std::vector<Example>& data, const TrainConfig& config,
                       const BoxMap* boxes, RunContext& ctx, const std::string& label);

}  // namespace qrun::attack
