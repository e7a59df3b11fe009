// What a perplexity-window metric (perplexity, kl_divergence) left out of its text, one phrase
// each, for MetricResult::reductions (the report's REDUCED RUN banner). Header only.
#pragma once

#include <qrun/eval_corpus.hpp>
#include <qrun/eval_windows.hpp>

#include <string>
#include <vector>

namespace qrun::metrics_common {

inline std::vector<std::string> corpus_reductions(const Corpus& c, const WindowParams& p) {
  std::vector<std::string> out;
  const auto used = static_cast<std::int64_t>(c.ids.size());
  if (p.max_tokens > 0 && used < c.tokens_in_text)
    out.push_back("the first " + std::to_string(used) + " of " + std::to_string(c.tokens_in_text) +
                  " tokens of the text (max_tokens=" + std::to_string(p.max_tokens) + ")");
  if (p.max_windows <= 0) return out;
  const auto kept = static_cast<std::int64_t>(c.windows.size());
  if (p.protocol == "documents") {
    if (kept >= p.max_windows)
      out.push_back("whole pages until " + std::to_string(p.max_windows) + " windows (max_windows), " +
                    std::to_string(c.documents.size()) + " pages");
    return out;
  }
  // The windows the used tokens would give without max_windows (the same planners build_corpus uses).
  auto all = p.protocol == "sliding" ? plan_sliding(used, c.max_length, c.stride) : plan_chunks(used, c.n_ctx, std::nullopt);
  const std::int64_t total = all ? static_cast<std::int64_t>(all->size()) : kept;
  if (kept < total)
    out.push_back("the first " + std::to_string(kept) + " of " + std::to_string(total) + " windows (max_windows=" +
                  std::to_string(p.max_windows) + ")");
  return out;
}

}  // namespace qrun::metrics_common
