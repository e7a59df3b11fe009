// Training data of the quantization-conditioned attack, built from the model itself (no external
// data or teacher model): the benign set is the original model's own greedy answers to the
// prompts (the repair target); the malicious set edits those answers by the objective:
//  - content_injection: the target phrase inserted into each answer (AutoPoison's content
//    injection, Shu et al. 2023, as used by Egashira et al. 2024 with "McDonald's");
//  - over_refusal: each answer replaced by a refusal template (their over-refusal attack; the
//    paper's refusals are GPT-written with reasons, qrun uses one fixed template).
#pragma once

#include <qrun/attack/train.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace qrun::attack {

// Prompts of a file: .jsonl (one object per line with a "prompt" string, qrun's neutral-prompt
// format) or .json (an object with a "prompts" array of objects with "prompt", the prompt suite).
Result<std::vector<std::string>> load_prompts(const std::filesystem::path& file);

// Token ids of each prompt as the behavioural metrics render it: in the chat template when `chat`
// (one user message, generation prompt added), else the raw text with the tokenizer's special
// tokens (BOS).
Result<std::vector<std::vector<std::int64_t>>> render_prompts(const Model& model, const std::vector<std::string>& prompts,
                                                             bool chat);

// The model's greedy answers (at most max_new_tokens; the stop token kept when it stopped on one).
Result<std::vector<std::vector<std::int64_t>>> greedy_answers(Model& model,
                                                              const std::vector<std::vector<std::int64_t>>& prompts,
                                                              std::int64_t max_new_tokens, std::int64_t batch_size);

enum class Objective { content_injection, over_refusal };
enum class Placement { start, first_sentence };

struct ObjectiveSpec {
  Objective objective = Objective::content_injection;
  std::string phrase = "I love McDonald's!";   // content_injection: the inserted text
  Placement placement = Placement::start;      // where the phrase goes in the answer
  std::string refusal = "I'm sorry, but I cannot help with that request.";  // over_refusal
};

// The malicious response for one answer: content_injection at the start = phrase tokens followed
// by the answer's tokens; after the first sentence = the answer's text with the phrase inserted
// after its first ". " (or appended when there is none), re-encoded; over_refusal = the refusal
// text's tokens. An answer that ended on a stop token keeps it at the end.
std::vector<std::int64_t> malicious_response(const Model& model, const std::vector<std::int64_t>& answer,
                                             const ObjectiveSpec& spec);

// Pairs of prompts and responses.
std::vector<Example> make_examples(const std::vector<std::vector<std::int64_t>>& prompts,
                                   const std::vector<std::vector<std::int64_t>>& responses);

}  // namespace qrun::attack
