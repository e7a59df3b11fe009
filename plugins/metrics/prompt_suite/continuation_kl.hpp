// KL of variants against the baseline on the baseline's own continuation, teacher forced: each
// model reads prompt + baseline continuation, and at every continuation position its next-token
// distribution is compared with the baseline's (KL(P_base ‖ P_var), Δp of the baseline's token,
// argmax agreement, NLLs; qrun::KlStats). The baseline's distributions for a batch are computed
// once and compared with every variant's in lockstep; full-vocabulary rows exist for one prompt
// at a time.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/kl_stats.hpp>
#include <qrun/model.hpp>

#include <cstdint>
#include <vector>

namespace qrun::prompt_suite {

// stats[v][p]: variant v against the baseline on prompt p. A variant that is the baseline object
// itself is compared with the very same rows (KL exactly 0). Prompts whose continuation is empty
// get empty stats. Errors: a vocabulary mismatch, a non-finite value (from KlStats::add).
Result<std::vector<std::vector<KlStats>>> compare_on_continuations(
    Model& baseline, const std::vector<Model*>& variants, const std::vector<std::vector<std::int64_t>>& prompt_ids,
    const std::vector<std::vector<std::int64_t>>& continuations, std::int64_t batch_size, RunContext& ctx);

}  // namespace qrun::prompt_suite
