// Per-prompt judgement.
#include "outcome.hpp"

#include "answer_match.hpp"

#include <algorithm>
#include <span>

namespace qrun::prompt_suite {

PromptOutcome judge(const Prompt& prompt, std::int64_t prompt_tokens, const PromptRun& run,
                    const PromptRun& baseline_run, const LoopRule& loop_rule, const KlStats& kl) {
  PromptOutcome o;
  o.prompt = &prompt;
  o.prompt_tokens = prompt_tokens;
  o.run = &run;
  o.kl = &kl;
  if (!run.ok) {
    o.failure = "generation error";
  } else {
    std::span<const std::int64_t> body(run.tokens);
    if (run.stopped_on_eos && !body.empty()) body = body.first(body.size() - 1);
    o.loop = detect_loop(body, loop_rule);
    if (run.text.find_first_not_of(" \t\r\n\v\f") == std::string::npos) o.failure = "empty output";
    else if (o.loop.is_loop) o.failure = "repetition loop";
    o.success = o.failure.empty();
  }
  if (prompt.reference) o.correct = run.ok && answer_matches(*prompt.reference, run.text);

  if (run.ok) {
    const auto& a = run.tokens;
    const auto& b = baseline_run.tokens;
    o.agrees = a == b;
    const std::size_t longest = std::max(a.size(), b.size());
    const auto mismatch = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    const auto common = static_cast<std::size_t>(mismatch.first - a.begin());
    o.prefix_agreement = longest == 0 ? 1.0 : static_cast<double>(common) / static_cast<double>(longest);
  }
  return o;
}

}  // namespace qrun::prompt_suite
