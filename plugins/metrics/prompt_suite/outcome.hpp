// Judging one prompt's generation by one variant: success, correctness, agreement with the
// baseline (definitions in datasets/README.md).
#pragma once

#include "repetition.hpp"
#include "suite_file.hpp"
#include "suite_generation.hpp"

#include <qrun/kl_stats.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace qrun::prompt_suite {

struct PromptOutcome {
  const Prompt* prompt = nullptr;
  std::int64_t prompt_tokens = 0;
  const PromptRun* run = nullptr;
  bool success = false;
  std::string failure;             // "", "generation error", "empty output", "repetition loop"
  LoopFinding loop;
  std::optional<bool> correct;     // set when the prompt has a reference
  bool agrees = false;             // identical token ids to the baseline's generation
  double prefix_agreement = 0;     // common prefix length / max(both lengths); 1 when both are empty
  const KlStats* kl = nullptr;     // teacher-forced comparison on the baseline's continuation
};

// Success: the generation finished without error, its decoded text is not empty after removing
// ASCII whitespace, and its tokens (without a final stop token) are not a repetition loop.
PromptOutcome judge(const Prompt& prompt, std::int64_t prompt_tokens, const PromptRun& run,
                    const PromptRun& baseline_run, const LoopRule& loop_rule, const KlStats& kl);

}  // namespace qrun::prompt_suite
