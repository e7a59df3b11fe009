// Declarations of the values qrun::KlStats::values() returns (numerics, qrun/kl_stats.hpp), shared
// by the metrics that report them: kl_divergence (overall) and prompt_suite (overall and per
// category). Header only; not a plugin (this folder has no CMakeLists.txt).
#pragma once

#include <qrun/metric.hpp>

#include <string>
#include <vector>

namespace qrun::metrics_common {

inline const char* const kMaxKlMeanDoc = "Mean token KL(P_base ‖ P_variant), the largest overall `kl_mean` of any metric";
inline const char* const kMinSameTopDoc = "Argmax agreement with the baseline, the lowest overall `same_top_p` of any metric";

struct KlCriteria {
  bool category_kl = false;  // also declare max_category_kl on the per-category kl_mean
  bool chart_by_group = false;  // chart kl_mean per group
};

// In KlStats::values() order: kl_mean, its percentiles, Δp (mean, RMS, percentiles), same top p,
// the two perplexities, their log ratio and ratio, the NLL correlation. KL values are already
// differences from the baseline: no Δ column for them.
inline std::vector<ValueSpec> kl_value_specs(const KlCriteria& k) {
  const std::string tokens = "tokens compared";
  ValueSpec kl_mean = value("kl_mean", "mean KL", "nats", Better::lower)
                          .doc("Mean KL")
                          .counting(tokens)
                          .headline()
                          .compared(Compare::none)
                          .criterion("max_kl_mean", Rule::at_most, kMaxKlMeanDoc);
  if (k.category_kl)
    kl_mean = kl_mean.criterion("max_category_kl", Rule::at_most,
                                "Mean KL of the worst category: the largest per-category `kl_mean`", Scope::groups);
  if (k.chart_by_group) kl_mean = kl_mean.charted(Chart::per_group);
  std::vector<ValueSpec> out = {kl_mean};
  const std::pair<const char*, const char*> kl_q[] = {{"max", "KL max"},     {"p99.9", "KL 99.9 %"}, {"p99", "KL 99 %"},
                                                      {"p95", "KL 95 %"},    {"p90", "KL 90 %"},     {"median", "KL median"},
                                                      {"p10", "KL 10 %"},    {"p5", "KL 5 %"},       {"p1", "KL 1 %"},
                                                      {"p0.1", "KL 0.1 %"},  {"min", "KL min"}};
  for (const auto& [key, label] : kl_q)
    out.push_back(value(std::string("kl_") + key, label, "nats", Better::lower).counting(tokens).compared(Compare::none));
  out.push_back(value("dp_mean", "mean Δp", "%").doc("Mean of p_variant(correct) − p_base(correct)").counting(tokens));
  out.push_back(value("dp_rms", "RMS Δp", "%", Better::lower).doc("RMS of Δp").counting(tokens));
  const std::pair<const char*, const char*> dp_q[] = {
      {"max", "Δp max"}, {"p99.9", "Δp 99.9 %"}, {"p99", "Δp 99 %"}, {"p95", "Δp 95 %"}, {"p90", "Δp 90 %"},
      {"p75", "Δp 75 %"}, {"median", "Δp median"}, {"p25", "Δp 25 %"}, {"p10", "Δp 10 %"}, {"p5", "Δp 5 %"},
      {"p1", "Δp 1 %"},  {"p0.1", "Δp 0.1 %"},   {"min", "Δp min"}};
  for (const auto& [key, label] : dp_q) out.push_back(value(std::string("dp_") + key, label, "%").counting(tokens));
  out.push_back(value("same_top_p", "same top p", "%", Better::higher)
                    .doc("Same top token as the baseline")
                    .counting(tokens)
                    .headline()
                    .criterion("min_same_top_pct", Rule::at_least, kMinSameTopDoc));
  out.push_back(value("ppl_variant", "PPL (variant)", "", Better::lower).doc("exp(mean NLL) of the variant").counting(tokens));
  out.push_back(value("ppl_base", "PPL (baseline)").doc("exp(mean NLL) of the baseline on the same tokens").counting(tokens));
  out.push_back(value("ln_ppl_ratio", "ln(PPL_Q/PPL_base)", "nats", Better::lower).counting(tokens).compared(Compare::none));
  out.push_back(value("ppl_ratio", "PPL_Q/PPL_base", "", Better::lower).counting(tokens).compared(Compare::none));
  out.push_back(value("nll_correlation", "NLL correlation", "%", Better::higher)
                    .doc("Pearson correlation of the two models' per-token NLL")
                    .counting(tokens)
                    .compared(Compare::none));
  return out;
}

}  // namespace qrun::metrics_common
