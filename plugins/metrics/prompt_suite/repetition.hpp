// Degenerate repetition loops in generated tokens (datasets/README.md, "Success").
#pragma once

#include <cstdint>
#include <span>

namespace qrun::prompt_suite {

struct LoopRule {
  std::int64_t max_period = 8;   // periods k = 1..max_period are tried
  std::int64_t min_repeats = 4;  // the repeated unit occurs at least this many times: L >= min_repeats·k
  std::int64_t min_tokens = 8;   // and the looping tail is at least this long: L >= min_tokens
  double min_coverage = 0.5;     // and covers at least this fraction of the output: L >= min_coverage·n
};

struct LoopFinding {
  bool is_loop = false;
  std::int64_t period = 0;  // the k of the longest periodic tail (0 when n == 0)
  std::int64_t length = 0;  // L: that tail's length in tokens
};

// For each k < n, with m_k = the number of consecutive positions i = n-1, n-2, ... (i >= k) where
// t[i] == t[i-k], the periodic tail is L_k = k + m_k tokens long (L_k = 0 when m_k = 0). The output is a loop when some k <= max_period
// has L_k >= max(min_repeats·k, min_tokens) and L_k >= min_coverage·n. The finding reports the
// qualifying k with the longest tail (smallest k on ties), or, when none qualifies, the longest
// tail seen.
LoopFinding detect_loop(std::span<const std::int64_t> tokens, const LoopRule& rule);

}  // namespace qrun::prompt_suite
