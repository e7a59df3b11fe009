// Continuation log-likelihoods (mc_scoring.hpp).
#include "mc_scoring.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <numeric>

namespace qrun::mc {

Result<TokenPair> encode_pair(const Tokenizer& tok, const std::string& context, const std::string& continuation,
                              bool add_special_tokens) {
  std::string ctx = context, cont = continuation;
  const std::size_t kept = ctx.find_last_not_of(" \t\n\r\f\v");
  const std::size_t n_spaces = kept == std::string::npos ? ctx.size() : ctx.size() - kept - 1;
  if (n_spaces > 0) {  // context = context[:-n], continuation = context[-n:] + continuation
    cont = ctx.substr(ctx.size() - n_spaces) + cont;
    ctx.resize(ctx.size() - n_spaces);
  }
  TokenPair p;
  if (ctx.empty()) {
    auto prefix = tok.bos_id() ? tok.bos_id() : tok.eos_id();
    if (!prefix)
      return Error::of(ErrorCode::unsupported, "multiple_choice", "an empty context needs a BOS or EOS token as prefix",
                       "give every item a context");
    p.context = {*prefix};
    p.continuation = tok.encode(cont, add_special_tokens);
  } else {
    const std::vector<std::int64_t> whole = tok.encode(ctx + cont, add_special_tokens);
    p.context = tok.encode(ctx, add_special_tokens);
    if (whole.size() <= p.context.size())
      return Error::of(ErrorCode::invalid_argument, "multiple_choice continuation \"" + continuation + "\"",
                       "adds no token after its context", "check the item");
    p.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(p.context.size()), whole.end());
  }
  if (p.continuation.empty())
    return Error::of(ErrorCode::invalid_argument, "multiple_choice continuation \"" + continuation + "\"",
                     "encodes to no token", "check the item");
  return p;
}

namespace {

// The model input of one pair: (context + continuation)[-(max_length + 1):][:-1].
std::vector<std::int64_t> input_of(const TokenPair& p, std::int64_t max_length) {
  std::vector<std::int64_t> seq = p.context;
  seq.insert(seq.end(), p.continuation.begin(), p.continuation.end());
  if (max_length > 0 && static_cast<std::int64_t>(seq.size()) > max_length + 1)
    seq.erase(seq.begin(), seq.end() - (max_length + 1));
  seq.pop_back();
  return seq;
}

}  // namespace

Result<std::vector<double>> loglikelihoods(Model& model, const std::vector<TokenPair>& pairs, std::int64_t batch_size,
                                           std::int64_t max_length, RunContext& ctx, const std::string& label) {
  c10::InferenceMode inference;
  if (max_length <= 0) max_length = model.config().max_position_embeddings;
  for (const TokenPair& p : pairs)
    if (max_length > 0 && static_cast<std::int64_t>(p.continuation.size()) > max_length)
      return Error::of(ErrorCode::invalid_argument, "multiple_choice", "a continuation is longer than the context window",
                       "shorten the choices");
  std::vector<std::size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return pairs[a].context.size() + pairs[a].continuation.size() > pairs[b].context.size() + pairs[b].continuation.size();
  });
  std::vector<double> out(pairs.size(), 0.0);
  auto progress = ctx.progress(label, static_cast<std::int64_t>(pairs.size()));
  const auto step = static_cast<std::size_t>(std::max<std::int64_t>(1, batch_size));
  for (std::size_t begin = 0; begin < order.size(); begin += step) {
    const std::size_t end = std::min(order.size(), begin + step);
    std::vector<std::vector<std::int64_t>> inputs;
    std::size_t width = 0;
    for (std::size_t k = begin; k < end; ++k) {
      inputs.push_back(input_of(pairs[order[k]], max_length));
      width = std::max(width, inputs.back().size());
    }
    const auto B = static_cast<std::int64_t>(inputs.size());
    at::Tensor ids = at::zeros({B, static_cast<std::int64_t>(width)}, at::kLong);
    at::Tensor mask = at::zeros({B, static_cast<std::int64_t>(width)}, at::kLong);
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& in = inputs[static_cast<std::size_t>(b)];
      const auto len = static_cast<std::int64_t>(in.size());
      ids[b].narrow(0, 0, len).copy_(at::tensor(in, at::kLong));
      mask[b].narrow(0, 0, len).fill_(1);
    }
    at::Tensor hidden = model.hidden_states(ids.to(model.device()), mask.to(model.device()));
    for (std::int64_t b = 0; b < B; ++b) {
      const TokenPair& p = pairs[order[begin + static_cast<std::size_t>(b)]];
      const auto len = static_cast<std::int64_t>(inputs[static_cast<std::size_t>(b)].size());
      const auto n = static_cast<std::int64_t>(p.continuation.size());
      // Positions len-n .. len-1 predict the n continuation tokens.
      at::Tensor logits = model.logits_from_hidden(hidden[b].narrow(0, len - n, n)).to(at::kFloat);
      at::Tensor logp = at::log_softmax(logits, -1);
      at::Tensor target = at::tensor(p.continuation, at::kLong).to(logp.device()).unsqueeze(1);
      at::Tensor picked = logp.gather(1, target).squeeze(1).to(at::kDouble).cpu();
      if (!at::isfinite(picked).all().item<bool>())
        return Error::of(ErrorCode::internal, label, "a continuation log-probability is not finite",
                         "check the model's logits (NaN/Inf)");
      out[order[begin + static_cast<std::size_t>(b)]] = picked.sum().item<double>();  // float64 sum
    }
    progress->advance(B);
  }
  progress->finish();
  return out;
}

}  // namespace qrun::mc
