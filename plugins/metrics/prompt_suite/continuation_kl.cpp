// Teacher-forced next-token comparison on the baseline's continuations.
#include "continuation_kl.hpp"

#include <qrun/eval_windows.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace qrun::prompt_suite {

namespace {

// One batch of prompts, right-padded: row r holds prompt + continuation[0 .. m-1) (the last
// continuation token is only a target). Scored positions of row r: P-1 .. P+m-2, whose next
// tokens are continuation[0 .. m).
struct Batch {
  std::vector<std::size_t> prompts;  // indices into the suite's prompt list
  at::Tensor input_ids;              // [B, T] int64, CPU
  at::Tensor attention_mask;         // [B, T] int64, CPU
};

Batch make_batch(const std::vector<std::size_t>& members, const std::vector<std::vector<std::int64_t>>& prompt_ids,
                 const std::vector<std::vector<std::int64_t>>& continuations) {
  Batch b;
  b.prompts = members;
  std::int64_t max_len = 0;
  for (auto p : members)
    max_len = std::max<std::int64_t>(max_len, static_cast<std::int64_t>(prompt_ids[p].size() + continuations[p].size() - 1));
  const auto rows = static_cast<std::int64_t>(members.size());
  b.input_ids = at::zeros({rows, max_len}, at::kLong);  // padding id 0 is masked out
  b.attention_mask = at::zeros({rows, max_len}, at::kLong);
  auto ids = b.input_ids.accessor<std::int64_t, 2>();
  auto mask = b.attention_mask.accessor<std::int64_t, 2>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto& prompt = prompt_ids[members[static_cast<std::size_t>(r)]];
    const auto& cont = continuations[members[static_cast<std::size_t>(r)]];
    std::int64_t t = 0;
    for (auto id : prompt) { ids[r][t] = id; mask[r][t] = 1; ++t; }
    for (std::size_t j = 0; j + 1 < cont.size(); ++j) { ids[r][t] = cont[j]; mask[r][t] = 1; ++t; }
  }
  return b;
}

// Log-probabilities [k, V] float32 of scored positions [s, s + k) of row r (position j predicts
// continuation token j), from that model's hidden states, on `device`.
at::Tensor scored_logprobs(Model& model, const at::Tensor& hidden, std::int64_t row, std::int64_t prompt_len,
                           std::int64_t s, std::int64_t k, c10::Device device) {
  const at::Tensor h = hidden.select(0, row).narrow(0, prompt_len - 1 + s, k);
  // logits float32, log softmax over the full vocabulary in float32 (KlStats upcasts to float64 per token)
  return logprob_rows(model, h).to(device);
}

}  // namespace

Result<std::vector<std::vector<KlStats>>> compare_on_continuations(
    Model& baseline, const std::vector<Model*>& variants, const std::vector<std::vector<std::int64_t>>& prompt_ids,
    const std::vector<std::vector<std::int64_t>>& continuations, std::int64_t batch_size, RunContext& ctx) {
  const std::size_t n_prompts = prompt_ids.size();
  std::vector<std::vector<KlStats>> stats(variants.size(), std::vector<KlStats>(n_prompts));
  for (Model* v : variants) {
    if (v->config().vocab_size != baseline.config().vocab_size)
      return Error{"prompt_suite", "a variant has " + std::to_string(v->config().vocab_size) +
                                       " vocabulary rows, the baseline " + std::to_string(baseline.config().vocab_size),
                   "compare variants of the same model only"};
  }
  std::vector<std::size_t> scored;
  for (std::size_t p = 0; p < n_prompts; ++p)
    if (!continuations[p].empty()) scored.push_back(p);

  c10::InferenceMode inference;
  const c10::Device device = baseline.device();
  const std::int64_t chunk_rows = rows_per_chunk(baseline.config().vocab_size, logit_chunk_elements(baseline.device()));
  auto progress = ctx.progress("prompt_suite: teacher-forced KL", static_cast<std::int64_t>(scored.size()));
  for (std::size_t begin = 0; begin < scored.size(); begin += static_cast<std::size_t>(batch_size)) {
    const std::size_t end = std::min(scored.size(), begin + static_cast<std::size_t>(batch_size));
    Batch batch = make_batch({scored.begin() + static_cast<std::ptrdiff_t>(begin),
                              scored.begin() + static_cast<std::ptrdiff_t>(end)},
                             prompt_ids, continuations);
    at::Tensor base_hidden = baseline.hidden_states(batch.input_ids.to(device), batch.attention_mask.to(device));
    std::vector<at::Tensor> variant_hidden(variants.size());
    for (std::size_t v = 0; v < variants.size(); ++v) {
      if (variants[v] == &baseline) continue;
      const c10::Device vd = variants[v]->device();
      variant_hidden[v] = variants[v]->hidden_states(batch.input_ids.to(vd), batch.attention_mask.to(vd));
    }
    for (std::size_t r = 0; r < batch.prompts.size(); ++r) {
      const std::size_t p = batch.prompts[r];
      const auto prompt_len = static_cast<std::int64_t>(prompt_ids[p].size());
      const auto m = static_cast<std::int64_t>(continuations[p].size());
      const at::Tensor all_targets = at::tensor(continuations[p], at::kLong).to(device);
      const auto row = static_cast<std::int64_t>(r);
      // Row chunks of at most kLogitChunkElements logits (eval_windows.hpp: far faster on CPU).
      for (std::int64_t s = 0; s < m; s += chunk_rows) {
        const std::int64_t k = std::min(chunk_rows, m - s);
        const at::Tensor targets = all_targets.narrow(0, s, k);
        const at::Tensor base_lp = scored_logprobs(baseline, base_hidden, row, prompt_len, s, k, device);
        for (std::size_t v = 0; v < variants.size(); ++v) {
          const at::Tensor var_lp = variants[v] == &baseline
                                        ? base_lp
                                        : scored_logprobs(*variants[v], variant_hidden[v], row, prompt_len, s, k, device);
          auto added = stats[v][p].add(base_lp, var_lp, targets);
          if (!added) return added.error().within("prompt_suite teacher-forced KL, prompt #" + std::to_string(p) + ":");
        }
      }
      progress->advance(1);
    }
  }
  progress->finish();
  return stats;
}

}  // namespace qrun::prompt_suite
