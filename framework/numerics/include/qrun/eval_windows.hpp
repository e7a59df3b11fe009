// Evaluation windows over a token sequence, as the published perplexity protocols cut them, and
// a forward pass that returns only what scoring needs (hidden states at the predicting
// positions, never [B, T, vocab] for whole windows). Used by the perplexity and kl_divergence
// metrics; the planners are pure functions so tests can check which tokens each protocol scores.
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace qrun {

// One forward pass over ids: the model is fed [prefix] + ids[begin, end) (ids[begin] replaced by
// `first_token` when set), and targets ids[target_begin, target_end) are scored, each predicted
// by the logits of the fed position just before it (the prefix for ids[begin]).
struct EvalWindow {
  std::int64_t begin = 0, end = 0;
  std::optional<std::int64_t> prefix;        // fed before ids[begin] (lm-eval's rolling prefix token)
  std::optional<std::int64_t> first_token;   // fed instead of ids[begin] (llama.cpp's per-chunk BOS)
  std::int64_t target_begin = 0, target_end = 0;
  // HF perplexity doc only: the weight its loop gives this window's mean loss,
  // num_valid_tokens - batch_size (see plan_sliding). 0 for other protocols.
  std::int64_t doc_weight = 0;

  std::int64_t input_length() const { return end - begin + (prefix ? 1 : 0); }
  std::int64_t n_targets() const { return target_end - target_begin; }
  // Fed position whose logits predict ids[k], target_begin <= k < target_end.
  std::int64_t predicting_position(std::int64_t k) const { return k - 1 - begin + (prefix ? 1 : 0); }
};

// Hugging Face "Perplexity of fixed-length models" (docs/source/en/perplexity.md): for begin in
// range(0, n, stride): end = min(begin + max_length, n); trg_len = end - prev_end; labels before
// the last trg_len of the window are -100, and the model's internal shift drops the window's first
// label; stop once end == n. Scored: ids[begin + max(1, T - trg_len), end) with T = end - begin.
// doc_weight = min(trg_len, T) - 1 (the doc's num_valid_tokens - batch_size): the doc sums
// mean_loss(window) * doc_weight and divides by Σ doc_weight, which differs from the plain token
// mean because a window after the first scores trg_len tokens but is weighted trg_len - 1.
// Errors: max_length < 2, stride < 1 or > max_length, n < 2.
Result<std::vector<EvalWindow>> plan_sliding(std::int64_t n_tokens, std::int64_t max_length, std::int64_t stride);

// llama.cpp `llama-perplexity` (tools/perplexity/perplexity.cpp, perplexity()): n_chunk =
// n / n_ctx non-overlapping chunks ids[i·n_ctx, (i+1)·n_ctx); with `bos` the chunk's first token
// is fed as BOS; only the second half is scored: first = n_ctx/2, targets
// ids[start + first + 1, start + n_ctx) (n_ctx - 1 - first per chunk).
// Errors: n_ctx < 4 or n < 2·n_ctx (llama.cpp refuses the same).
Result<std::vector<EvalWindow>> plan_chunks(std::int64_t n_tokens, std::int64_t n_ctx, std::optional<std::int64_t> bos);

// lm-evaluation-harness loglikelihood_rolling for one document (lm_eval/utils.py
// get_rolling_token_windows with context_len = 1, then make_disjoint_window): the first window
// feeds [prefix] + ids[0, L-1) and scores ids[0, min(L, n)); each later window feeds the L tokens
// before its last target and scores its up to L new tokens. Every token is scored exactly once.
// Errors: max_length < 1. An empty document gives no windows.
Result<std::vector<EvalWindow>> plan_rolling(std::int64_t n_tokens, std::int64_t max_length, std::int64_t prefix_token);

// The result of running a batch of windows through a model.
struct WindowHidden {
  at::Tensor hidden;                   // [M, hidden] compute dtype: one row per target, windows in order
  at::Tensor targets;                  // [M] int64 on the model's device: the token each row predicts
  std::vector<std::int64_t> n_targets; // per window
};

// Feeds the windows as one batch (right-padded with an attention mask when their lengths
// differ) and gathers the hidden states of the predicting positions. Errors: a window outside
// ids, a target without a predicting position, a token id outside the model's vocabulary.
Result<WindowHidden> forward_windows(Model& model, std::span<const std::int64_t> ids,
                                     std::span<const EvalWindow> windows);

// Float32 logits that the row-chunked helpers below hold at once: 2^21 (8 MiB; 13 rows of a
// 151936-token vocabulary). Measured on CPU (BENCHMARKS.md, "CPU perplexity"): chunks above
// glibc's largest mmap threshold (32 MiB) are mapped afresh and page-faulted on every call, about
// 5-10x slower; much smaller chunks re-read the whole LM head weight for too few rows.
inline constexpr std::int64_t kLogitChunkElements = std::int64_t{1} << 21;
// On CUDA: 2^28 (1 GiB of float32 logits): a batch's scored rows in a few large GEMMs; chunks of
// a few rows would leave the GPU idle between small launches (measured: 2.4x slower than
// transformers' loop with 2^21 on an H100).
inline constexpr std::int64_t kLogitChunkElementsCuda = std::int64_t{1} << 28;
// The chunk size for a model on `device`.
inline std::int64_t logit_chunk_elements(c10::Device device) {
  return device.is_cuda() ? kLogitChunkElementsCuda : kLogitChunkElements;
}

// Float32 log-softmax rows of the LM head on `hidden` rows [m, hidden] -> [m, vocab]
// (logits are float32 from logits_from_hidden; log_softmax in float32, as transformers' loss).
at::Tensor logprob_rows(Model& model, const at::Tensor& hidden);

// Per-row log p(target) for all M rows, computed in row chunks so that at most ~`chunk_elements`
// float32 logits exist at once (0: logit_chunk_elements of the model's device); returned as
// float64 on the CPU. Error naming the row when a log-prob is not finite.
Result<std::vector<double>> target_logprobs(Model& model, const WindowHidden& wh, std::int64_t chunk_elements = 0);

// Rows per chunk so that rows × vocab stays under `chunk_elements` (at least 1).
std::int64_t rows_per_chunk(std::int64_t vocab, std::int64_t chunk_elements = kLogitChunkElements);

}  // namespace qrun
