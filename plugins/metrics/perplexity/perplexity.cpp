// perplexity: a model's perplexity on a text file under one published protocol (sliding: the
// Hugging Face perplexity doc; chunks: llama.cpp llama-perplexity; documents:
// lm-evaluation-harness wikitext). The windows are qrun::build_corpus's; this file only runs them
// and reduces, in float64, as each protocol defines.
#include "../common/corpus_reductions.hpp"

#include <qrun/eval_corpus.hpp>
#include <qrun/eval_windows.hpp>
#include <qrun/plugin.hpp>
#include <qrun/stats.hpp>

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace {

struct Perplexity : qrun::WindowParams {};  // protocol "sliding" by default

const auto schema = qrun::window_schema<Perplexity>(
    {"sliding", "chunks", "documents"},
    "sliding = Hugging Face perplexity doc; chunks = llama.cpp llama-perplexity; documents = "
    "lm-evaluation-harness wikitext (word/byte perplexity, bits per byte)");

// Accumulates the per-protocol sums. Every sum is float64.
struct Sums {
  qrun::RunningStats nll;      // per scored token (nats)
  double doc_weighted = 0;     // sliding: Σ_w mean_NLL_w · doc_weight_w
  std::int64_t doc_weight = 0; // sliding: Σ_w doc_weight_w
  std::vector<double> doc_ll;  // documents: Σ log p per page
};

void add_window(const qrun::EvalWindow& w, const double* logprobs, std::int64_t doc, Sums& s) {
  double sum = 0;
  for (std::int64_t i = 0; i < w.n_targets(); ++i) {
    s.nll.add(-logprobs[i]);
    sum -= logprobs[i];
  }
  // HF doc: nll_sum += mean_loss · (num_valid_tokens - batch_size); n_tokens += the same weight.
  if (w.n_targets() > 0) s.doc_weighted += sum / static_cast<double>(w.n_targets()) * static_cast<double>(w.doc_weight);
  s.doc_weight += w.doc_weight;
  if (doc >= 0) s.doc_ll[static_cast<std::size_t>(doc)] -= sum;
}

qrun::MetricResult reduce(const qrun::Corpus& c, const Sums& s, const std::string& protocol) {
  using qrun::Better;
  qrun::MetricResult r;
  const std::int64_t n = s.nll.n();
  const double mean = s.nll.mean(), se = s.nll.stderr_();
  r.details = c.details();
  r.details["protocol"] = protocol;
  r.method = c.method;
  if (protocol == "sliding") {
    // The doc's reduction: exp(Σ mean_w·weight_w / Σ weight_w).
    const double doc_nll = s.doc_weight > 0 ? s.doc_weighted / static_cast<double>(s.doc_weight) : mean;
    r.values.push_back({"ppl", std::exp(doc_nll), std::nullopt, s.doc_weight, "", Better::lower, ""});
    // The plain token mean over the same scored tokens; PPL stderr by the delta method exp(m)·se(m).
    r.values.push_back({"ppl_token_mean", std::exp(mean), std::exp(mean) * se, n, "", Better::lower, ""});
    r.details["doc_weight_sum"] = s.doc_weight;
    r.method += " ppl = exp(Σ_w mean_NLL_w·(n_valid_w − 1) / Σ_w (n_valid_w − 1)), exactly the doc loop's weighting "
                "(a window after the first scores trg_len tokens but is weighted trg_len − 1); ppl_token_mean = "
                "exp(mean NLL over all scored tokens) ± exp(m)·stderr.";
  } else if (protocol == "chunks") {
    // llama.cpp: PPL = exp(mean NLL) ± PPL·sqrt((Σx²/n − mean²)/(n − 1)).
    r.values.push_back({"ppl", std::exp(mean), std::exp(mean) * se, n, "", Better::lower, ""});
    r.method += " ppl = exp(mean NLL) ± ppl·stderr(NLL), as llama-perplexity's final estimate.";
  } else {
    double ll = 0;
    std::int64_t words = 0, bytes = 0;
    for (std::size_t d = 0; d < c.documents.size(); ++d) {
      ll += s.doc_ll[d];
      words += c.documents[d].words;
      bytes += c.documents[d].bytes;
    }
    r.values.push_back({"word_perplexity", std::exp(-ll / static_cast<double>(words)), std::nullopt, words, "", Better::lower, ""});
    r.values.push_back({"byte_perplexity", std::exp(-ll / static_cast<double>(bytes)), std::nullopt, bytes, "", Better::lower, ""});
    r.values.push_back({"bits_per_byte", -ll / static_cast<double>(bytes) / std::numbers::ln2, std::nullopt, bytes, "bits",
                        Better::lower, ""});
    r.values.push_back({"ppl", std::exp(mean), std::exp(mean) * se, n, "", Better::lower, ""});
    r.details["words"] = words;
    r.details["bytes"] = bytes;
    r.details["loglikelihood"] = ll;
    r.method += " Also ppl = exp(mean NLL per token) ± exp(m)·stderr.";
  }
  r.values.push_back({"nll_mean", mean, se, n, "nats", Better::lower, ""});
  r.values.push_back({"tokens", static_cast<double>(n), std::nullopt, n, "tokens", Better::none, ""});
  r.method += " Logits float32, log_softmax float32, sums float64.";
  return r;
}

// Every value this metric may return (which ones depends on the protocol), as the report shows them.
const qrun::MetricSpec spec{
    .compares_to_baseline = false,
    .needs_dataset = true,
    .values = {
        qrun::value("ppl", "PPL", "", qrun::Better::lower)
            .doc("Perplexity")
            .counting("tokens as the protocol weighs them (sliding: Σ over windows of scored tokens − 1, the HF "
                      "doc's weights; chunks, documents: scored tokens)")
            .headline()
            .charted(qrun::Chart::change_vs_baseline)
            .criterion("max_ppl_increase_pct", qrun::Rule::increase_pct_at_most,
                       "Perplexity increase vs the baseline, 100·(PPL − PPL_base)/PPL_base, the largest over every "
                       "overall `ppl`"),
        qrun::value("ppl_token_mean", "PPL (token mean)", "", qrun::Better::lower)
            .doc("exp(mean NLL over the scored tokens)")
            .counting("scored tokens"),
        qrun::value("word_perplexity", "word PPL", "", qrun::Better::lower).doc("lm-eval word perplexity").counting("words"),
        qrun::value("byte_perplexity", "byte PPL", "", qrun::Better::lower).doc("lm-eval byte perplexity").counting("UTF-8 bytes"),
        qrun::value("bits_per_byte", "bits/byte", "bits", qrun::Better::lower).doc("lm-eval bits per byte").counting("UTF-8 bytes"),
        qrun::value("nll_mean", "mean NLL", "nats", qrun::Better::lower).doc("Mean NLL per scored token").counting("scored tokens"),
        qrun::value("tokens", "tokens scored", "tokens").doc("Tokens scored").counting("scored tokens"),
    }};

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Perplexity& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  if (!in.dataset)
    return qrun::Error{"perplexity", "no dataset was given", "name a text dataset (e.g. wiki.test.raw) for this metric"};
  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"perplexity", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
    qrun::Model& model = *v.model;
    auto corpus = qrun::build_corpus(model, in.dataset->path, p);
    if (!corpus) return corpus.error();
    const qrun::Corpus& c = *corpus;
    Sums sums;
    sums.doc_ll.assign(c.documents.size(), 0.0);
    const auto n_windows = static_cast<std::int64_t>(c.windows.size());
    auto progress = ctx.progress("perplexity " + v.name, n_windows);
    for (std::int64_t b = 0; b < n_windows; b += p.batch_size) {
      const std::int64_t len = std::min(p.batch_size, n_windows - b);
      const std::span<const qrun::EvalWindow> batch(c.windows.data() + b, static_cast<std::size_t>(len));
      auto wh = qrun::forward_windows(model, c.ids, batch);
      if (!wh) return wh.error().within("perplexity " + v.name + ":");
      auto lp = qrun::target_logprobs(model, *wh);
      if (!lp) return lp.error().within("perplexity " + v.name + " windows " + std::to_string(b) + ".." + std::to_string(b + len - 1) + ":");
      std::size_t row = 0;
      for (std::int64_t i = 0; i < len; ++i) {
        const std::int64_t wi = b + i;
        const std::int64_t doc = c.window_document.empty() ? -1 : c.window_document[static_cast<std::size_t>(wi)];
        add_window(c.windows[static_cast<std::size_t>(wi)], lp->data() + row, doc, sums);
        row += static_cast<std::size_t>(c.windows[static_cast<std::size_t>(wi)].n_targets());
      }
      progress->advance(len);
    }
    progress->finish();
    if (sums.nll.n() == 0)
      return qrun::Error{"perplexity", "no token was scored", "use a longer text or a larger max_tokens"};
    results.push_back(reduce(c, sums, p.protocol));
    results.back().reductions = qrun::metrics_common::corpus_reductions(c, p);
    for (const qrun::MetricValue& mv : results.back().values)
      if (mv.name == "ppl")
        ctx.info("perplexity " + v.name + " (" + p.protocol + "): ppl " + std::to_string(mv.value) + " over " +
                 std::to_string(sums.nll.n()) + " scored tokens");
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("perplexity", "0.1.0",
            qrun::metric("perplexity", schema, spec,
                         "Perplexity on a text file by the HF doc's sliding window, llama.cpp's chunks or "
                         "lm-eval's wikitext documents",
                         evaluate));
