// Model: what a backend loads and what transforms and metrics work on. A decoder-only causal LM
// with a tokenizer, named linear layers, a forward pass and generation.
#pragma once

#include <qrun/dtype.hpp>
#include <qrun/error.hpp>
#include <qrun/linear.hpp>
#include <qrun/tokenizer.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qrun {

class RunContext;

// The architecture as config.json states it (names follow transformers).
struct ModelConfig {
  std::string architecture;            // "LlamaForCausalLM", "Qwen2ForCausalLM", "Gemma3ForCausalLM", ...
  std::int64_t vocab_size = 0;         // embedding rows
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;         // of the full-attention layers (Gemma 3's sliding layers have their own)
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;         // q/k/v biases (Qwen2: true; Llama, Qwen3, Gemma: attention_bias)
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // config.json and generation_config.json merged
};

// Where the model came from, for provenance.
struct ModelSource {
  std::string name;                               // as the user gave it (folder or HF id)
  std::filesystem::path folder;                   // resolved folder
  std::vector<std::pair<std::string, std::string>> file_sha256;  // file name -> sha256 hex
};

struct GenerationConfig {
  std::int64_t max_new_tokens = 128;
  bool do_sample = false;          // false: greedy (argmax, lowest id on ties as torch.argmax)
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = 0;          // 0: off
  std::uint64_t seed = 0;          // for sampling
  std::vector<std::int64_t> stop_token_ids;  // empty: the model's eos_token_ids
};

struct Generation {
  std::vector<std::int64_t> tokens;  // new tokens only, up to and including a stop token
  bool stopped_on_eos = false;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual const ModelSource& source() const = 0;
  virtual c10::Device device() const = 0;
  virtual DType compute_dtype() const = 0;   // activations and dense matmuls
  virtual DType storage_dtype() const = 0;   // dense weights as held in memory

  // Linear layers in forward order, named as in the checkpoint without ".weight"
  // ("model.layers.0.self_attn.q_proj", ..., "model.layers.N.mlp.down_proj"). lm_head is not
  // listed when tied to the embeddings.
  virtual std::vector<std::string> linear_names() const = 0;
  virtual LinearImpl& linear(const std::string& name) = 0;  // throws ErrorException if unknown
  virtual const LinearImpl& linear(const std::string& name) const = 0;
  virtual Result<void> set_linear(const std::string& name, std::shared_ptr<LinearImpl> impl) = 0;
  // Every other parameter (embeddings, norms, untied lm_head if not a linear), by checkpoint name.
  // The tensors alias the model's storage: a defense may modify them in place.
  virtual NamedTensors other_tensors() = 0;

  // input_ids [B, T] int64; attention_mask [B, T] (1 real, 0 padding; left or right padding;
  // undefined = all ones). Positions count real tokens only. Returns the final hidden states
  // after the last norm, [B, T, hidden] in the compute dtype, on device().
  virtual at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask) = 0;
  // The LM head on hidden states [..., hidden] -> logits [..., vocab] in float32.
  virtual at::Tensor logits_from_hidden(const at::Tensor& hidden) = 0;
  // Convenience: logits for every position, [B, T, vocab] float32.
  at::Tensor logits(const at::Tensor& input_ids, const at::Tensor& attention_mask = {}) {
    return logits_from_hidden(hidden_states(input_ids, attention_mask));
  }

  // Batched generation with a KV cache; prompts may differ in length. One Generation per prompt.
  virtual Result<std::vector<Generation>> generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                                   const GenerationConfig& config) = 0;

  // A deep copy (weights and layer implementations), same device and dtypes.
  virtual Result<std::unique_ptr<Model>> clone() const = 0;
};

// Bytes held by the model: every linear layer's storage plus every other tensor.
struct ModelStorage {
  std::int64_t total_bytes = 0;
  std::int64_t linear_bytes = 0;              // all linear layers
  std::int64_t quantized_linear_bytes = 0;    // linear layers whose kind() is not "dense"
  std::int64_t hf_footprint_bytes = 0;        // as transformers' get_memory_footprint() would count
  std::int64_t parameters = 0;                // logical parameter count (unquantized)
};
ModelStorage model_storage(Model& model);

}  // namespace qrun
