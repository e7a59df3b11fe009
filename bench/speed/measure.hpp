// The three measurements of qrun_bench (issue 8), each timing the product's own path on a loaded
// Model: the perplexity metric plugin (llama.cpp chunks), Model::generate at batch 1 on a wiki
// prompt, and Model::generate on the whole prompt suite in one call. One warm-up run, then
// `repeats` timed runs; the median is reported. Every timed interval starts and ends with a
// device synchronisation.
#pragma once

#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qrun::bench {

// Waits until every queued kernel on `device` has finished (no-op on the CPU).
void synchronize(c10::Device device);
// Median of a non-empty list (mean of the two middle values for an even count).
double median(std::vector<double> values);

struct PerplexitySettings {
  std::filesystem::path text;   // wiki.test.raw
  std::int64_t n_ctx = 2048;    // llama.cpp -c
  std::int64_t batch_size = 8;  // windows per forward pass
  std::int64_t windows = 0;     // 0: every chunk of the file
  std::int64_t repeats = 3;
};

// The `perplexity` metric (protocol "chunks") through the registry, as `qrun eval` runs it.
// tokens_per_s_incl_tokenize = windows · n_ctx / wall seconds of Metric::evaluate (which tokenizes
// the whole file); tokens_per_s subtracts the separately timed qrun::build_corpus (the same
// tokenization), as transformers' loop tokenizes once outside its timing.
Result<nlohmann::json> measure_perplexity(const Registry& registry, Model& model, const PerplexitySettings& s,
                                          RunContext& ctx);

struct GenerateSettings {
  std::int64_t new_tokens = 128;  // exactly this many per prompt (stopping is disabled)
  std::int64_t repeats = 3;
};

// The first `prompt_tokens` tokens of the text file's first 4096 bytes (cut back to a whole UTF-8
// character), encoded without special tokens. Error when the text gives fewer tokens.
Result<std::vector<std::int64_t>> wiki_prompt(const Tokenizer& tokenizer, const std::filesystem::path& text,
                                              std::int64_t prompt_tokens);

// Model::generate (greedy) on `prompts` in one call; wall seconds around the call.
// Generation must not stop early: GenerationConfig has no "ignore EOS", so the stop set is one
// token id that the warm-up run never produced (re-chosen if the warm-up hits it), and every timed
// run is checked to give exactly new_tokens tokens per prompt.
Result<nlohmann::json> measure_generate(Model& model, const std::vector<std::vector<std::int64_t>>& prompts,
                                        const GenerateSettings& s, RunContext& ctx, const std::string& label);

// The prompts of a prompt-suite file rendered as the prompt_suite metric renders them (chat
// template when the tokenizer has one, as its chat = "auto"). `chat_used` reports the choice.
Result<std::vector<std::vector<std::int64_t>>> suite_prompts(const Model& model, const std::filesystem::path& suite,
                                                             std::int64_t new_tokens, bool& chat_used);

}  // namespace qrun::bench
