// Per-category and overall numbers of one variant's prompt-suite run.
#pragma once

#include "outcome.hpp"
#include "suite_generation.hpp"

#include <qrun/error.hpp>
#include <qrun/metric.hpp>

#include <string>
#include <vector>

namespace qrun::prompt_suite {

// Values for the overall group "" and then each category (in `categories` order) that has
// prompts: success_rate, gen_seconds, tokens_per_s, accuracy (groups with references only),
// agreement, prefix_agreement, and KlStats::values (groups with scored tokens only).
// details: {"prompts": [per-prompt outputs], "kl": {group: KlStats::details()}}.
Result<MetricResult> summarise(const std::vector<PromptOutcome>& outcomes, const std::vector<std::string>& categories,
                               const std::vector<GenerateCall>& calls);

}  // namespace qrun::prompt_suite
