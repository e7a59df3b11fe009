// Repetition-loop detection on token ids.
#include "repetition.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::prompt_suite {

LoopFinding detect_loop(std::span<const std::int64_t> tokens, const LoopRule& rule) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  LoopFinding best_seen, best_loop;
  for (std::int64_t k = 1; k <= rule.max_period && k < n; ++k) {
    std::int64_t matches = 0;
    for (std::int64_t i = n - 1; i >= k && tokens[i] == tokens[i - k]; --i) ++matches;
    const std::int64_t length = matches > 0 ? k + matches : 0;  // a period needs one repeat at least
    if (length > best_seen.length) best_seen = {false, k, length};
    const bool long_enough = length >= std::max(rule.min_repeats * k, rule.min_tokens);
    const bool covers = static_cast<double>(length) >= rule.min_coverage * static_cast<double>(n);
    if (long_enough && covers && length > best_loop.length) best_loop = {true, k, length};
  }
  return best_loop.is_loop ? best_loop : best_seen;
}

}  // namespace qrun::prompt_suite
