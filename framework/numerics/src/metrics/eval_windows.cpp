#include <qrun/eval_windows.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace qrun {
namespace {
std::string str(std::int64_t v) { return std::to_string(v); }
}  // namespace

Result<std::vector<EvalWindow>> plan_sliding(std::int64_t n, std::int64_t max_length, std::int64_t stride) {
  if (max_length < 2)
    return Error{"perplexity.max_length", str(max_length) + " is below 2", "use a window of at least 2 tokens"};
  if (stride < 1 || stride > max_length)
    return Error{"perplexity.stride", str(stride) + " is outside [1, max_length=" + str(max_length) + "]",
                 "use a stride between 1 and max_length"};
  if (n < 2) return Error{"perplexity", "the text has " + str(n) + " token(s)", "use a text of at least 2 tokens"};
  std::vector<EvalWindow> out;
  std::int64_t prev_end = 0;
  for (std::int64_t begin = 0; begin < n; begin += stride) {
    EvalWindow w;
    w.begin = begin;
    w.end = std::min(begin + max_length, n);
    const std::int64_t t = w.end - w.begin;
    const std::int64_t trg_len = w.end - prev_end;
    const std::int64_t valid = std::min(trg_len, t);  // labels not set to -100
    // transformers shifts labels left by one: the window's first label is never scored.
    w.target_begin = w.begin + std::max<std::int64_t>(1, t - valid);
    w.target_end = w.end;
    w.doc_weight = valid - 1;  // the doc's num_valid_tokens - batch_size (batch of 1)
    out.push_back(w);
    prev_end = w.end;
    if (w.end == n) break;
  }
  return out;
}

Result<std::vector<EvalWindow>> plan_chunks(std::int64_t n, std::int64_t n_ctx, std::optional<std::int64_t> bos) {
  if (n_ctx < 4) return Error{"perplexity.n_ctx", str(n_ctx) + " is below 4", "use a context of at least 4 tokens"};
  if (n < 2 * n_ctx)
    return Error{"perplexity", "the text has " + str(n) + " tokens, chunks of n_ctx=" + str(n_ctx) + " need at least " +
                                   str(2 * n_ctx) + " (as llama-perplexity)",
                 "lower n_ctx or raise max_tokens"};
  const std::int64_t first = n_ctx / 2;
  std::vector<EvalWindow> out;
  for (std::int64_t i = 0; i < n / n_ctx; ++i) {
    EvalWindow w;
    w.begin = i * n_ctx;
    w.end = w.begin + n_ctx;
    w.first_token = bos;
    w.target_begin = w.begin + first + 1;
    w.target_end = w.end;
    out.push_back(w);
  }
  return out;
}

Result<std::vector<EvalWindow>> plan_rolling(std::int64_t n, std::int64_t max_length, std::int64_t prefix_token) {
  if (max_length < 1)
    return Error{"perplexity.max_length", str(max_length) + " is below 1", "use a positive window length"};
  std::vector<EvalWindow> out;
  if (n <= 0) return out;
  // First window: [prefix] + ids[0, L-1) predicts ids[0, min(L, n)).
  const std::int64_t first_len = std::min(max_length, n);
  EvalWindow w0;
  w0.prefix = prefix_token;
  w0.begin = 0;
  w0.end = first_len - 1;
  w0.target_begin = 0;
  w0.target_end = first_len;
  out.push_back(w0);
  // Later windows: the L tokens before the window's last target, predicting up to L new tokens.
  for (std::int64_t predicted = first_len; predicted < n;) {
    const std::int64_t pred_len = std::min(n - predicted, max_length);
    const std::int64_t window_end = predicted + pred_len;
    EvalWindow w;
    w.begin = window_end - max_length - 1;
    w.end = window_end - 1;
    w.target_begin = window_end - pred_len;
    w.target_end = window_end;
    out.push_back(w);
    predicted += pred_len;
  }
  return out;
}

std::int64_t rows_per_chunk(std::int64_t vocab, std::int64_t chunk_elements) {
  return std::max<std::int64_t>(1, chunk_elements / std::max<std::int64_t>(1, vocab));
}

Result<WindowHidden> forward_windows(Model& model, std::span<const std::int64_t> ids,
                                     std::span<const EvalWindow> windows) {
  c10::InferenceMode guard;
  const auto n = static_cast<std::int64_t>(ids.size());
  const std::int64_t vocab = model.config().vocab_size;
  std::int64_t t_max = 0;
  for (const EvalWindow& w : windows) {
    if (w.begin < 0 || w.end > n || w.begin > w.end || w.target_begin < w.begin ||
        w.target_end > std::min(n, w.end + 1) || w.target_begin > w.target_end ||
        (w.n_targets() > 0 && w.predicting_position(w.target_begin) < 0))
      return Error{"eval window [" + str(w.begin) + ", " + str(w.end) + ")",
                   "does not fit " + str(n) + " tokens or has a target without a predicting position",
                   "report this as a bug in the window planner"};
    t_max = std::max(t_max, w.input_length());
  }
  const auto b = static_cast<std::int64_t>(windows.size());
  WindowHidden out;
  if (b == 0 || t_max == 0) {
    out.hidden = at::empty({0, model.config().hidden_size}, at::TensorOptions().device(model.device()));
    out.targets = at::empty({0}, at::TensorOptions().dtype(at::kLong).device(model.device()));
    out.n_targets.assign(windows.size(), 0);
    return out;
  }
  at::Tensor input = at::zeros({b, t_max}, at::kLong);  // right padding with id 0, masked out
  at::Tensor mask = at::zeros({b, t_max}, at::kLong);
  auto in = input.accessor<std::int64_t, 2>();
  auto mk = mask.accessor<std::int64_t, 2>();
  std::vector<std::int64_t> rows, targets;
  bool padded = false;
  for (std::int64_t i = 0; i < b; ++i) {
    const EvalWindow& w = windows[static_cast<std::size_t>(i)];
    std::int64_t p = 0;
    if (w.prefix) in[i][p++] = *w.prefix;
    for (std::int64_t k = w.begin; k < w.end; ++k) in[i][p++] = ids[static_cast<std::size_t>(k)];
    if (w.first_token && w.end > w.begin) in[i][w.prefix ? 1 : 0] = *w.first_token;
    for (std::int64_t j = 0; j < p; ++j) {
      mk[i][j] = 1;
      if (in[i][j] < 0 || in[i][j] >= vocab)
        return Error{"token " + str(in[i][j]), "is outside the model's vocabulary of " + str(vocab),
                     "tokenize with the model's own tokenizer"};
    }
    padded = padded || p < t_max;
    for (std::int64_t k = w.target_begin; k < w.target_end; ++k) {
      rows.push_back(i * t_max + w.predicting_position(k));
      targets.push_back(ids[static_cast<std::size_t>(k)]);
    }
    out.n_targets.push_back(w.n_targets());
  }
  const c10::Device dev = model.device();
  const at::Tensor input_dev = input.to(dev);
  const at::Tensor mask_dev = padded ? mask.to(dev) : at::Tensor();
  const at::Tensor hidden = model.hidden_states(input_dev, mask_dev);  // [B, T, H]
  const at::Tensor row_idx = at::tensor(at::ArrayRef<std::int64_t>(rows), at::kLong).to(dev);
  out.hidden = hidden.reshape({b * t_max, hidden.size(-1)}).index_select(0, row_idx);
  out.targets = at::tensor(at::ArrayRef<std::int64_t>(targets), at::kLong).to(dev);
  return out;
}

at::Tensor logprob_rows(Model& model, const at::Tensor& hidden) {
  // Logits upcast to float32 (logits_from_hidden's contract; the cast is a no-op then), then
  // log_softmax over the vocabulary in float32, as transformers' cross-entropy loss does.
  return at::log_softmax(model.logits_from_hidden(hidden).to(at::kFloat), -1);
}

Result<std::vector<double>> target_logprobs(Model& model, const WindowHidden& wh, std::int64_t chunk_elements) {
  c10::InferenceMode guard;
  const std::int64_t m = wh.hidden.size(0);
  const std::int64_t rows = rows_per_chunk(model.config().vocab_size,
                                           chunk_elements > 0 ? chunk_elements : logit_chunk_elements(model.device()));
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(m));
  for (std::int64_t s = 0; s < m; s += rows) {
    const std::int64_t len = std::min(rows, m - s);
    const at::Tensor lp = logprob_rows(model, wh.hidden.narrow(0, s, len));
    const at::Tensor t = wh.targets.narrow(0, s, len).unsqueeze(1);
    const at::Tensor picked = lp.gather(1, t).squeeze(1).to(at::kDouble).cpu().contiguous();
    const double* p = picked.data_ptr<double>();
    for (std::int64_t i = 0; i < len; ++i) {
      if (!std::isfinite(p[i]))
        return Error{"log-prob of scored token " + str(s + i) + " in this batch", "is not finite (" + std::to_string(p[i]) + ")",
                     "check the model's forward pass (overflow in a low-precision dtype?)"};
      out.push_back(p[i]);
    }
  }
  return out;
}

}  // namespace qrun
