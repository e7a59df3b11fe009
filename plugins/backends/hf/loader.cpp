// Loads the tensors the state dict of transformers' <Family>ForCausalLM holds (arch.hpp's families).
#include "loader.hpp"

#include <qrun/linear_kind.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>
#include <set>

namespace qrun::hf {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class TensorSource {
 public:
  TensorSource(const Checkpoint& c, const LoadOptions& o) : c_(c), o_(o) {}

  // The named floating-point tensor with the given shape, in the storage dtype on the device.
  Result<at::Tensor> get(const std::string& name, std::vector<std::int64_t> shape) {
    auto t = c_.load(name);
    if (!t) return t.error();
    used_.insert(name);
    if (t->sizes() != at::IntArrayRef(shape))
      return Error{name, "has shape " + shape_str(t->sizes()) + " but config.json implies " + shape_str(shape),
                   "use the config.json that belongs to this checkpoint", ErrorCode::corrupt_input};
    const auto st = t->scalar_type();
    if (st != at::kFloat && st != at::kHalf && st != at::kBFloat16 && st != at::kDouble)
      return Error{name, std::string("has dtype ") + c10::toString(st) + ", expected a floating-point weight",
                   "use an unquantized checkpoint (or one written by qrun quantize)", ErrorCode::unsupported};
    return t->to(o_.device, to_scalar_type(o_.storage));
  }
  // The named tensor as stored (CPU, checkpoint dtype), for layers rebuilt from their state.
  Result<at::Tensor> raw(const std::string& name) {
    auto t = c_.load(name);
    if (t) used_.insert(name);
    return t;
  }
  const std::set<std::string>& used() const { return used_; }

 private:
  const Checkpoint& c_;
  const LoadOptions& o_;
  std::set<std::string> used_;
};

}  // namespace

Result<std::unique_ptr<HfModel>> build_model(const HfConfig& hf, const Checkpoint& checkpoint,
                                             std::shared_ptr<const Tokenizer> tokenizer, ModelSource source,
                                             const LoadOptions& options, RunContext& ctx) {
  // Not under InferenceMode: the weights must stay ordinary tensors that transforms may edit in
  // place later (they never require grad).
  const ModelConfig& c = hf.model;
  const Arch& a = hf.arch;
  const auto hidden = c.hidden_size, inter = c.intermediate_size, hd = c.head_dim;
  const auto q_out = c.num_attention_heads * hd, kv_out = c.num_key_value_heads * hd;
  const auto compute = to_scalar_type(options.compute);
  TensorSource src(checkpoint, options);
  DecoderTensors t;
  NamedLinears linears;

  auto embed = src.get("model.embed_tokens.weight", {c.vocab_size, hidden});
  if (!embed) return embed.error();
  t.embed = *embed;

  const std::vector<std::string> names = checkpoint.names();  // sorted
  // One projection. A dense layer is weight [out, in] (+ bias [out]); a quantized layer is rebuilt
  // by its linear kind (qrun/linear_kind.hpp): the kind recorded in the checkpoint's metadata by
  // `qrun quantize`, or the registered kind that recognises its tensor names.
  auto add_linear = [&](const std::string& name, std::int64_t out, std::int64_t in, bool bias) -> Result<void> {
    const std::string prefix = name + ".";
    std::vector<std::string> suffixes;
    for (auto it = std::lower_bound(names.begin(), names.end(), prefix);
         it != names.end() && it->compare(0, prefix.size(), prefix) == 0; ++it)
      suffixes.push_back(it->substr(prefix.size()));
    LinearState state{name, {}, nlohmann::json::object(), compute, options.device};
    std::optional<std::string> recorded;
    if (auto m = checkpoint.metadata().find(linear_metadata_key(name)); m != checkpoint.metadata().end()) {
      auto parsed = parse_linear_metadata(name, m->second);
      if (!parsed) return parsed.error();
      recorded = parsed->first;
      state.metadata = parsed->second;
    } else if (hf.quantization_config.is_object()) {
      state.metadata = {{"quantization_config", hf.quantization_config}};  // a published checkpoint's settings
    }
    auto kind = resolve_linear_kind(name, suffixes, recorded);
    if (!kind) return kind.error();
    if (*kind != "dense") {
      for (const auto& suffix : suffixes) {
        auto tensor = src.raw(prefix + suffix);
        if (!tensor) return tensor.error();
        state.tensors.emplace_back(suffix, *tensor);
        state.stored_dtypes[suffix] = checkpoint.stored_dtype(prefix + suffix);
      }
      auto layer = load_linear(*kind, state, out, in);
      if (!layer) return layer.error();
      linears.emplace_back(name, *layer);
      return {};
    }
    auto w = src.get(name + ".weight", {out, in});
    if (!w) return w.error();
    at::Tensor b;
    if (bias) {
      auto bt = src.get(name + ".bias", {out});
      if (!bt) return bt.error();
      b = *bt;
    }
    linears.emplace_back(name, make_dense_linear(*w, b, compute));
    return {};
  };

  auto norm = [&](const std::string& name, std::int64_t size, std::vector<at::Tensor>& dst) -> Result<void> {
    auto w = src.get(name, {size});
    if (!w) return w.error();
    dst.push_back(*w);
    return {};
  };
  // Biases: Qwen2 q/k/v; Llama, Qwen3, Gemma q/k/v/o with attention_bias; Llama MLP with mlp_bias.
  auto has_bias = [&](Proj p) {
    if (p == kQ || p == kK || p == kV || p == kQKV) return a.qkv_bias;
    if (p == kO) return a.o_bias;
    return a.mlp_bias;
  };
  // Each projection's [out, in], in forward order.
  const std::vector<Proj> projs = a.fused_projections ? std::vector<Proj>{kQKV, kO, kGateUp, kDown}
                                                      : std::vector<Proj>{kQ, kK, kV, kO, kGate, kUp, kDown};
  std::int64_t out_dims[kProjCount] = {q_out, kv_out, kv_out, hidden, inter, inter, hidden, q_out + 2 * kv_out, 2 * inter};
  std::int64_t in_dims[kProjCount] = {hidden, hidden, hidden, q_out, hidden, hidden, inter, hidden, hidden};

  auto progress = ctx.progress("loading " + source.name, c.num_hidden_layers);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    QRUN_TRY(norm(p + "input_layernorm.weight", hidden, t.input_norm));
    QRUN_TRY(norm(p + "post_attention_layernorm.weight", hidden, t.post_norm));
    if (a.sandwich_norms) {
      QRUN_TRY(norm(p + "pre_feedforward_layernorm.weight", hidden, t.pre_ffn_norm));
      QRUN_TRY(norm(p + "post_feedforward_layernorm.weight", hidden, t.post_ffn_norm));
    }
    if (a.qk_norm) {
      QRUN_TRY(norm(p + "self_attn.q_norm.weight", hd, t.q_norm));
      QRUN_TRY(norm(p + "self_attn.k_norm.weight", hd, t.k_norm));
    }
    for (Proj pr : projs) QRUN_TRY(add_linear(p + proj_suffix(pr), out_dims[pr], in_dims[pr], has_bias(pr)));
    progress->advance();
  }
  progress->finish();
  auto final_norm = src.get("model.norm.weight", {hidden});
  if (!final_norm) return final_norm.error();
  t.final_norm = *final_norm;
  if (!c.tie_word_embeddings) QRUN_TRY(add_linear("lm_head", c.vocab_size, hidden, false));

  // Every checkpoint tensor must have been used: a leftover means config.json and the weights
  // disagree. Tolerated: a tied checkpoint that also stores lm_head.weight (transformers ties it
  // to the embeddings and ignores it) and old rotary_emb.inv_freq buffers (recomputed).
  for (const std::string& name : checkpoint.names()) {
    if (src.used().count(name)) continue;
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;
    if (name.ends_with("rotary_emb.inv_freq")) continue;
    return Error{checkpoint.files().front().string() + " tensor '" + name + "'",
                 "is not part of a " + c.architecture + " with this config.json",
                 "use the config.json that belongs to this checkpoint", ErrorCode::corrupt_input};
  }
  return std::make_unique<HfModel>(c, a, std::move(tokenizer), std::move(source), options.device, options.storage,
                                   options.compute, std::move(t), std::move(linears));
}

}  // namespace qrun::hf
