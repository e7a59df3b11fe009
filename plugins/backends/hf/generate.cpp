// Batched generation with a KV cache, as transformers' generate() does it: left-padded prompts,
// positions from the attention mask, greedy argmax or seeded sampling (temperature, top-k,
// top-p in that order: the LogitsProcessorList generate() builds), stop on eos ids.
#include "hf_model.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace qrun::hf {
namespace {

Result<void> check_config(const GenerationConfig& g, std::int64_t vocab) {
  if (g.max_new_tokens < 0)
    return Error{"generation.max_new_tokens", "is negative", "use a value >= 0"};
  if (g.do_sample) {
    if (!(g.temperature > 0) || !std::isfinite(g.temperature))
      return Error{"generation.temperature", "must be > 0 when sampling", "use e.g. 0.7, or greedy decoding"};
    if (!(g.top_p > 0 && g.top_p <= 1))
      return Error{"generation.top_p", "must be in (0, 1]", "use e.g. 0.9 (1 disables it)"};
    if (g.top_k < 0) return Error{"generation.top_k", "is negative", "use 0 (off) or a positive count"};
  }
  for (auto id : g.stop_token_ids)
    if (id < 0 || id >= vocab)
      return Error{"generation.stop_token_ids", "id " + std::to_string(id) + " is outside the vocabulary",
                   "use ids below " + std::to_string(vocab)};
  return {};
}

// scores [B, V] float32 -> next ids [B] (CPU int64).
at::Tensor choose(at::Tensor scores, const GenerationConfig& g, at::Generator& gen) {
  if (!g.do_sample) return scores.argmax(-1).to(at::kCPU);  // first maximum on ties, as torch.argmax
  const double neg_inf = -std::numeric_limits<double>::infinity();
  // TemperatureLogitsWarper: scores / temperature.
  if (g.temperature != 1.0) scores = scores / g.temperature;
  // TopKLogitsWarper: drop scores below the k-th largest.
  if (g.top_k > 0) {
    const auto k = std::min<std::int64_t>(g.top_k, scores.size(-1));
    at::Tensor kth = std::get<0>(scores.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    scores = scores.masked_fill(scores < kth, neg_inf);
  }
  // TopPLogitsWarper: ascending sort, drop tokens whose cumulative probability <= 1 - top_p,
  // always keeping the most likely one.
  if (g.top_p < 1.0) {
    auto [sorted, idx] = scores.sort(/*dim=*/-1, /*descending=*/false);
    at::Tensor cum = sorted.softmax(-1).cumsum(-1);
    at::Tensor remove_sorted = cum <= (1.0 - g.top_p);
    remove_sorted.select(-1, remove_sorted.size(-1) - 1).fill_(false);
    at::Tensor remove = remove_sorted.scatter(-1, idx, remove_sorted);
    scores = scores.masked_fill(remove, neg_inf);
  }
  // Sample on the CPU with the seeded generator (same stream on every device).
  at::Tensor probs = scores.softmax(-1).to(at::kCPU);
  return at::multinomial(probs, 1, /*replacement=*/false, gen).squeeze(-1);
}

}  // namespace

Result<std::vector<Generation>> HfModel::generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                                  const GenerationConfig& g) {
  if (prompts.empty()) return std::vector<Generation>{};
  QRUN_TRY(check_config(g, config_.vocab_size));
  std::size_t longest = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return Error{"prompts[" + std::to_string(i) + "]", "is empty", "give at least one token (e.g. BOS)"};
    for (auto id : prompts[i])
      if (id < 0 || id >= config_.vocab_size)
        return Error{"prompts[" + std::to_string(i) + "]", "token id " + std::to_string(id) + " outside the vocabulary",
                     "use the model's own tokenizer"};
    longest = std::max(longest, prompts[i].size());
  }
  const std::vector<std::int64_t>& stops = g.stop_token_ids.empty() ? config_.eos_token_ids : g.stop_token_ids;
  const auto b = static_cast<std::int64_t>(prompts.size()), t = static_cast<std::int64_t>(longest);

  c10::InferenceMode guard;
  // Left padding: real tokens at the end of each row; padded slots hold id 0 and mask 0.
  at::Tensor ids = at::zeros({b, t}, at::kLong), mask = at::zeros({b, t}, at::kLong);
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& p = prompts[i];
    const auto off = t - static_cast<std::int64_t>(p.size());
    ids[i].slice(0, off).copy_(at::tensor(p, at::kLong));
    mask[i].slice(0, off).fill_(1);
  }
  ids = ids.to(device_);
  mask = mask.to(device_);
  at::Tensor positions = (mask.cumsum(-1) - 1).masked_fill(mask.eq(0), 1);

  at::Generator gen = at::detail::createCPUGenerator(g.seed);
  std::vector<Generation> out(prompts.size());
  std::vector<bool> done(prompts.size(), false);
  KvCache cache;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  if (g.max_new_tokens == 0) return out;

  at::Tensor hidden = decode(ids, positions, mask, &cache);
  for (std::int64_t step = 0; step < g.max_new_tokens; ++step) {
    // next_token_logits = logits[:, -1, :] in float32
    at::Tensor scores = logits_from_hidden(hidden.select(1, hidden.size(1) - 1));
    at::Tensor next = choose(scores, g, gen);  // CPU: synchronises the device, so timings are real
    const auto now = clock::now();
    const double seconds = std::chrono::duration<double>(now - start).count();
    if (step == 0) {
      for (auto& o : out) o.prefill_seconds = seconds;
    } else {
      for (std::size_t i = 0; i < out.size(); ++i)
        if (!done[i]) out[i].decode_seconds += seconds;
    }
    start = now;
    const auto* next_ids = next.data_ptr<std::int64_t>();
    bool all_done = true;
    for (std::int64_t i = 0; i < b; ++i) {
      if (done[i]) continue;
      out[i].tokens.push_back(next_ids[i]);
      if (std::find(stops.begin(), stops.end(), next_ids[i]) != stops.end()) {
        out[i].stopped_on_eos = true;
        done[i] = true;
      }
      all_done = all_done && done[i];
    }
    if (all_done || step + 1 == g.max_new_tokens) break;
    // One more token per row (finished rows keep decoding; their tokens are not recorded).
    at::Tensor step_ids = next.to(device_).unsqueeze(1);
    positions = positions.select(1, positions.size(1) - 1).unsqueeze(1) + 1;
    mask = at::cat({mask, at::ones({b, 1}, mask.options())}, 1);
    hidden = decode(step_ids, positions, mask, &cache);
  }
  return out;
}

}  // namespace qrun::hf
