// kl_divergence: token-level KL(P_baseline ‖ P_variant) and llama.cpp's companion statistics on
// the scored tokens of the perplexity windows (sliding or chunks), computed in lockstep: for each
// batch of windows the baseline's log-prob rows are computed once and compared with every
// variant's rows for the same positions; full-vocabulary rows exist for one row chunk at a time.
#include "../common/corpus_reductions.hpp"
#include "../common/kl_values.hpp"

#include <qrun/eval_corpus.hpp>
#include <qrun/eval_windows.hpp>
#include <qrun/kl_stats.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <string>
#include <vector>

namespace {

struct KlDivergence : qrun::WindowParams {
  KlDivergence() { protocol = "chunks"; }  // llama.cpp's KL mode
};

const auto schema = qrun::window_schema<KlDivergence>(
    {"sliding", "chunks"},
    "which perplexity windows to compare on: chunks = llama.cpp's KL mode; sliding = the HF doc's windows");

const qrun::MetricSpec spec{.compares_to_baseline = true,
                            .needs_dataset = true,
                            .values = qrun::metrics_common::kl_value_specs({})};

bool same_model(const qrun::VariantModel& v, const qrun::Model* baseline) {
  return v.is_baseline || v.model == baseline;
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const KlDivergence& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  c10::InferenceMode guard;
  if (!in.dataset)
    return qrun::Error{"kl_divergence", "no dataset was given", "name a text dataset (e.g. wiki.test.raw) for this metric"};
  if (!in.baseline) return qrun::Error{"kl_divergence", "no baseline model", "report this as a bug",
                                       qrun::ErrorCode::internal};
  qrun::Model& base = *in.baseline;
  for (const auto& v : in.variants) {
    if (!v.model) return qrun::Error{"kl_divergence", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
    if (v.model->config().vocab_size != base.config().vocab_size)
      return qrun::Error{"kl_divergence variant " + v.name,
                         "vocabulary of " + std::to_string(v.model->config().vocab_size) + " rows differs from the baseline's " +
                             std::to_string(base.config().vocab_size),
                         "compare variants of the same model"};
  }
  auto corpus = qrun::build_corpus(base, in.dataset->path, p, "kl_divergence");
  if (!corpus) return corpus.error();
  const qrun::Corpus& c = *corpus;

  std::vector<qrun::KlStats> stats(in.variants.size());
  const auto n_windows = static_cast<std::int64_t>(c.windows.size());
  const std::int64_t rows = qrun::rows_per_chunk(base.config().vocab_size, qrun::logit_chunk_elements(base.device()));
  auto progress = ctx.progress("kl_divergence", n_windows);
  for (std::int64_t b = 0; b < n_windows; b += p.batch_size) {
    const std::int64_t len = std::min(p.batch_size, n_windows - b);
    const std::span<const qrun::EvalWindow> batch(c.windows.data() + b, static_cast<std::size_t>(len));
    auto base_h = qrun::forward_windows(base, c.ids, batch);
    if (!base_h) return base_h.error().within("kl_divergence baseline:");
    std::vector<qrun::WindowHidden> var_h(in.variants.size());
    for (std::size_t v = 0; v < in.variants.size(); ++v) {
      if (same_model(in.variants[v], &base)) continue;
      auto h = qrun::forward_windows(*in.variants[v].model, c.ids, batch);
      if (!h) return h.error().within("kl_divergence " + in.variants[v].name + ":");
      var_h[v] = std::move(*h);
    }
    const std::int64_t m = base_h->hidden.size(0);
    for (std::int64_t s = 0; s < m; s += rows) {
      const std::int64_t k = std::min(rows, m - s);
      const at::Tensor base_lp = qrun::logprob_rows(base, base_h->hidden.narrow(0, s, k));
      const at::Tensor targets = base_h->targets.narrow(0, s, k);
      for (std::size_t v = 0; v < in.variants.size(); ++v) {
        // The baseline compared with itself uses the very same rows: KL exactly 0.
        const at::Tensor var_lp = same_model(in.variants[v], &base)
                                      ? base_lp
                                      : qrun::logprob_rows(*in.variants[v].model, var_h[v].hidden.narrow(0, s, k))
                                            .to(base_lp.device());
        auto added = stats[v].add(base_lp, var_lp, targets);
        if (!added)
          return added.error().within("kl_divergence " + in.variants[v].name + " windows " + std::to_string(b) + ".." +
                                      std::to_string(b + len - 1) + ":");
      }
    }
    progress->advance(len);
  }
  progress->finish();

  std::vector<qrun::MetricResult> results;
  for (std::size_t v = 0; v < in.variants.size(); ++v) {
    qrun::MetricResult r;
    auto values = stats[v].values();
    if (!values) return values.error().within("kl_divergence " + in.variants[v].name + ":");
    r.values = std::move(*values);
    r.details = stats[v].details();
    r.details["corpus"] = c.details();
    r.details["protocol"] = p.protocol;
    r.reductions = qrun::metrics_common::corpus_reductions(c, p);
    r.method = c.method +
               " On every scored token: KL(P_base ‖ P_variant) over the full vocabulary (Σ p_base·(ln p_base − ln p_var), "
               "float64 from float32 log_softmax rows, no cutoff), Δp = p_var(correct) − p_base(correct), same top p = "
               "argmax agreement, and both models' NLL; summarised as llama.cpp's KL mode (mean ± stderr; percentiles by "
               "linear interpolation, reported from 100 tokens; ln(PPL_Q/PPL_base) ± stderr with the NLL covariance). "
               "Unlike llama.cpp the baseline rows are exact float32, not 16-bit codes.";
    ctx.info("kl_divergence " + in.variants[v].name + ": mean KL " + std::to_string(stats[v].kl().mean()) + " nats over " +
             std::to_string(stats[v].n()) + " tokens, same top p " + std::to_string(100.0 * stats[v].same_top_fraction()) + " %");
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("kl_divergence", "0.1.0",
            qrun::metric("kl_divergence", schema, spec,
                         "Token-level KL(baseline ‖ variant), Δp and same-top-token rate on perplexity windows, as "
                         "llama.cpp's KL mode",
                         evaluate));
