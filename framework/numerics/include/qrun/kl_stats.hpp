// Token-level comparison of a variant's next-token distributions with the baseline's on the same
// contexts, summarised as llama.cpp's `llama-perplexity --kl-divergence` prints it
// (ggml-org/llama.cpp tools/perplexity/perplexity.cpp, kl_divergence()):
//   KL(P_base ‖ P_var) per token over the full vocabulary: mean ± stderr, max, 99.9/99/95/90 %,
//   median, 10/5/1/0.1 %, min;  Δp = p_var(correct) - p_base(correct): mean ± stderr, RMS ± stderr,
//   max, 99.9/99/95/90/75 %, median, 25/10/5/1/0.1 %, min;  same top p (argmax agreement);
//   PPL of both, ln(PPL_var/PPL_base) ± stderr from the NLL covariance, and the NLL correlation.
// Differences from llama.cpp, on purpose: the baseline log-probs are exact float32 rows (llama.cpp
// stores 16-bit codes and drops terms with ln p_base <= -16); every sum is float64.
// Used by the kl_divergence metric (windows of a corpus) and the prompt suite (one KlStats per
// category, merged for the total).
#pragma once

#include <qrun/error.hpp>
#include <qrun/metric.hpp>
#include <qrun/stats.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun {

class KlStats {
 public:
  // Below this many tokens no percentiles are reported (llama.cpp: "we do not wish to do
  // statistics on so few values"); details say "n/a (n=37 < 100)" instead.
  static constexpr std::int64_t kMinTokensForPercentiles = 100;

  // Adds N tokens. base_logprobs and variant_logprobs: [N, V] float32 log-softmax rows over the
  // full vocabulary, for the same N contexts, on the same device; targets: [N] int64, the correct
  // next token of each row. Per token, in float64: KL = Σ_v p_base(v)·(ln p_base(v) - ln p_var(v)),
  // Δp, argmax agreement (lowest index on ties, as torch.argmax), and both NLLs.
  // Errors (nothing is added): undefined, mis-shaped or non-float32 inputs, a vocabulary or
  // row-count mismatch, a target outside [0, V), a non-finite value (naming the row).
  Result<void> add(const at::Tensor& base_logprobs, const at::Tensor& variant_logprobs,
                   const at::Tensor& targets);
  // Appends another accumulator's tokens (e.g. per-category stats into a total).
  void merge(const KlStats& other);

  std::int64_t n() const { return kl_.n(); }
  const RunningStats& kl() const { return kl_; }            // nats
  const RunningStats& delta_p() const { return dp_; }       // probability (0..1), variant - base
  const RunningStats& delta_p_squared() const { return dp2_; }
  const PairedStats& nll() const { return nll_; }           // x: variant NLL, y: baseline NLL (nats)
  std::int64_t same_top() const { return same_top_; }
  const std::vector<double>& kl_values() const { return kl_values_; }      // per token, as added
  const std::vector<double>& delta_p_values() const { return dp_values_; }  // per token, as added

  // Derived numbers, each as llama.cpp defines it.
  double same_top_fraction() const;         // n_same/n
  double same_top_stderr() const;           // sqrt(f(1-f)/(n-1))
  double delta_p_rms() const;               // sqrt(mean Δp²)
  double delta_p_rms_stderr() const;        // 0.5/rms · stderr(mean Δp²)
  double ppl_variant() const;               // exp(mean NLL_var)
  double ppl_base() const;                  // exp(mean NLL_base)
  double ln_ppl_ratio() const;              // mean NLL_var - mean NLL_base
  double ln_ppl_ratio_stderr() const;       // sqrt(se_v² + se_b² - 2 cov(means))

  // MetricValues (all with `group`): kl_mean ± stderr, then when n >= 100 kl_max, kl_p99.9,
  // kl_p99, kl_p95, kl_p90, kl_median, kl_p10, kl_p5, kl_p1, kl_p0.1, kl_min (nats); dp_mean ±,
  // dp_rms ± and, when n >= 100, dp_max ... dp_min (%); same_top_p ± (%); ppl_variant ±,
  // ppl_base ±, ln_ppl_ratio ±, ppl_ratio ±, nll_correlation (%). Error when n == 0.
  Result<std::vector<MetricValue>> values(const std::string& group = "") const;
  // The same numbers as one JSON object, percentile tables keyed "99.9" ... "0.1".
  nlohmann::json details() const;
  // llama.cpp-style fixed-width text (one "====== ... ======" block per part).
  std::string render() const;

 private:
  RunningStats kl_, dp_, dp2_;
  PairedStats nll_;
  std::int64_t same_top_ = 0;
  std::vector<double> kl_values_, dp_values_;
};

}  // namespace qrun
