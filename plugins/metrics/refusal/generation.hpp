// Generating answers to behavioural prompts with one model: chat rendering, batched generation,
// decoding; shared by refusal and content_injection (content_injection compiles this file).
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::behaviour {

// How every model of one metric run generates (identical for baseline and variants).
struct Decoding {
  std::int64_t max_new_tokens = 64;
  std::int64_t batch_size = 8;
  bool do_sample = false;       // false: greedy; true: temperature/top_p/top_k
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = 0;
  std::int64_t num_samples = 1; // sampled only: generations per prompt, seeds seed + 0 .. seed + n-1
  std::uint64_t seed = 0;
};

// chat: "auto" (the tokenizer's chat template when it has one), "on" (required), "off".
Result<bool> resolve_chat(const std::string& chat, const Tokenizer& tokenizer, const std::string& thing);

// Token ids of each text: with chat, one user message (after an optional system message) through
// the chat template with the generation prompt, encoded without added special tokens (as
// transformers' apply_chat_template(tokenize=True)); without chat, the text encoded with the
// tokenizer's special tokens (e.g. BOS). Error when a prompt plus max_new_tokens exceeds the
// model's max_position_embeddings.
Result<std::vector<std::vector<std::int64_t>>> render_prompts(const Model& model, const std::vector<std::string>& texts,
                                                              bool chat, const std::string& system_prompt,
                                                              std::int64_t max_new_tokens, const std::string& thing);

struct Output {
  std::vector<std::int64_t> tokens;  // new tokens, including a final stop token
  std::string text;                  // decode(tokens, skip_special_tokens = true)
};

// outputs[s][i]: sample s (seed + s) of prompt i. Greedy decoding makes one sample.
// Error naming the prompt index when generation fails.
Result<std::vector<std::vector<Output>>> generate_outputs(Model& model, const std::vector<std::vector<std::int64_t>>& ids,
                                                          const Decoding& d, RunContext& ctx, const std::string& label);

// decode of the first n tokens (n <= 0: all), skipping special tokens.
std::string decode_first(const Model& model, const std::vector<std::int64_t>& tokens, std::int64_t n);

// At most `max_bytes` bytes of `text`, cut at a UTF-8 character boundary, with "…" when cut.
std::string truncate_utf8(const std::string& text, std::size_t max_bytes);

// The decoding as results.json records it.
nlohmann::json to_json(const Decoding& d);

}  // namespace qrun::behaviour
