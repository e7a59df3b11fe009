// Log-likelihood of a continuation given a context, as lm-evaluation-harness's HFLM computes it
// (lm_eval/models/huggingface.py: _encode_pair, _loglikelihood_tokens): the context's trailing
// whitespace moves to the continuation; continuation tokens = tokens of (context + continuation)
// after the tokens of the context alone; an empty context becomes the prefix token (BOS, else EOS);
// the sequence is cut to its last max_length + 1 tokens; the score is the sum of the float32
// log-softmax log-probabilities of the continuation tokens, accumulated in float64.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::mc {

struct TokenPair {
  std::vector<std::int64_t> context;
  std::vector<std::int64_t> continuation;
};

// add_special_tokens: lm-eval's add_bos_token (false by default for causal models).
Result<TokenPair> encode_pair(const Tokenizer& tok, const std::string& context, const std::string& continuation,
                              bool add_special_tokens);

// Σ log p(continuation | context) for each pair; batches of batch_size sequences (right padded,
// longest first). max_length: the model's context window (0: max_position_embeddings).
Result<std::vector<double>> loglikelihoods(Model& model, const std::vector<TokenPair>& pairs, std::int64_t batch_size,
                                           std::int64_t max_length, RunContext& ctx, const std::string& label);

}  // namespace qrun::mc
