// multiple_choice: zero-shot log-likelihood scoring of answer options with lm-evaluation-harness
// semantics (acc on the summed log-probability of " " + option, acc_norm on that divided by the
// option's length), for ARC-, MMLU- and HellaSwag-style files; per-subject accuracy; flips of
// correctness vs the baseline (Dutta et al., NeurIPS 2024, "Accuracy is not all you need") with
// McNemar's exact test; agreement of the chosen option with the baseline's.
#include "mc_file.hpp"
#include "mc_scoring.hpp"
#include "mc_values.hpp"

#include <qrun/plugin.hpp>

#include <sstream>

namespace {

using namespace qrun::mc;

struct Params {
  std::string format = "auto";
  std::string norm = "bytes";
  std::string flips_on = "acc";
  bool add_bos = false;
  std::int64_t batch_size = 16;
  std::int64_t max_length = 0;
  std::int64_t limit_per_subject = 0;
  std::int64_t examples = 8;
  std::int64_t example_chars = 400;
};

const auto schema = qrun::schema<Params>(
    qrun::field("format", &Params::format).choices({"auto", "arc", "mmlu", "hellaswag", "qrun"})
        .doc("the file's row format (auto: by each row's fields; .csv files are MMLU's original CSV)"),
    qrun::field("norm", &Params::norm).choices({"bytes", "chars"})
        .doc("acc_norm's length of an option: UTF-8 bytes, or code points as lm-eval's len(choice) (equal for ASCII)"),
    qrun::field("flips_on", &Params::flips_on).choices({"acc", "acc_norm"})
        .doc("which decision (summed or normalised log-likelihood) defines flips and agreement"),
    qrun::field("add_bos", &Params::add_bos)
        .doc("encode with the tokenizer's special tokens (lm-eval's add_bos_token; its default for causal models is false)"),
    qrun::field("batch_size", &Params::batch_size).range(1, 4096).unit("sequences").doc("option sequences per forward pass"),
    qrun::field("max_length", &Params::max_length).min(0).unit("tokens")
        .doc("context window: sequences keep their last max_length + 1 tokens (0: max_position_embeddings)"),
    qrun::field("limit_per_subject", &Params::limit_per_subject).min(0).unit("items")
        .doc("only the first N items of each subject (0: all; for quick runs)"),
    qrun::field("examples", &Params::examples).min(0).doc("flipped items kept in results.json details"),
    qrun::field("example_chars", &Params::example_chars).range(16, 100000).unit("bytes")
        .doc("item texts in the examples are truncated to this many bytes"));

// Every option of every item as one (context, " " + option) pair, item by item.
qrun::Result<std::vector<TokenPair>> encode_all(const qrun::Model& model, const std::vector<Item>& items, bool add_bos) {
  std::vector<TokenPair> pairs;
  for (const Item& it : items)
    for (const std::string& c : it.choices) {
      auto p = encode_pair(model.tokenizer(), it.context, " " + c, add_bos);
      if (!p) return p.error().within("item " + it.id + ":");
      pairs.push_back(std::move(*p));
    }
  return pairs;
}

qrun::Result<std::vector<Scored>> score(const Params& p, qrun::Model& model, const std::vector<Item>& items,
                                        const std::vector<TokenPair>& pairs, qrun::RunContext& ctx,
                                        const std::string& name) {
  auto lls = loglikelihoods(model, pairs, p.batch_size, p.max_length, ctx, "multiple_choice: " + name);
  if (!lls) return lls.error();
  std::vector<Scored> out;
  std::size_t k = 0;
  for (const Item& it : items) {
    std::vector<double> item_lls(lls->begin() + static_cast<std::ptrdiff_t>(k),
                                 lls->begin() + static_cast<std::ptrdiff_t>(k + it.choices.size()));
    std::vector<double> lengths;
    for (const std::string& c : it.choices) lengths.push_back(choice_length(c, p.norm));
    out.push_back(decide(std::move(item_lls), lengths));
    k += it.choices.size();
  }
  return out;
}

std::string method_text(const Params& p, const std::string& format, std::size_t n_items, std::size_t n_pairs) {
  std::ostringstream m;
  m << n_items << " " << format << " items (" << n_pairs << " options)"
    << (p.limit_per_subject > 0 ? " (reduced run: the first " + std::to_string(p.limit_per_subject) +
                                      " of each subject, limit_per_subject)"
                                : "")
    << ", zero-shot, lm-evaluation-harness prompts and loglikelihood requests: each option scored as the "
    << "continuation \" \" + option of the item's context (context whitespace moved to the continuation; "
    << "continuation tokens = tokens of context + continuation after the context's own tokens; "
    << (p.add_bos ? "with" : "without") << " the tokenizer's special tokens). Score = Σ float32 log-softmax "
    << "log-probabilities of the continuation tokens, summed in float64. acc: argmax score; acc_norm: argmax "
    << "score / option length in " << (p.norm == "bytes" ? "UTF-8 bytes" : "code points")
    << " (first option on ties). Flips compare the " << p.flips_on << " decision with the baseline's on each item "
    << "(right→wrong, wrong→right; McNemar's exact test); agreement = same option chosen. Rates carry 95 % Wilson "
    << "score intervals.";
  return m.str();
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Params& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  if (in.dataset == nullptr)
    return qrun::Error{"multiple_choice", "needs a dataset", "name an ARC, MMLU, HellaSwag or qrun JSONL file"};
  auto set = load_items(in.dataset->path, p.format);
  if (!set) return set.error();
  const std::vector<Item> items = first_per_subject(set->items, p.limit_per_subject);
  qrun::Model& baseline = *in.baseline;
  auto pairs = encode_all(baseline, items, p.add_bos);
  if (!pairs) return pairs.error();
  auto base = score(p, baseline, items, *pairs, ctx, "baseline");
  if (!base) return base.error();
  std::vector<qrun::MetricResult> results;
  for (const auto& v : in.variants) {
    if (v.model != &baseline) {
      auto own = encode_all(*v.model, items, p.add_bos);
      if (!own) return own.error().within("variant " + v.name + ":");
      bool same = own->size() == pairs->size();
      for (std::size_t i = 0; same && i < own->size(); ++i)
        same = (*own)[i].context == (*pairs)[i].context && (*own)[i].continuation == (*pairs)[i].continuation;
      if (!same)
        return qrun::Error{"variant " + v.name, "tokenizes the items differently from the baseline",
                           "compare variants of the same model (same tokenizer) only"};
    }
    auto scored = v.model == &baseline ? base : score(p, *v.model, items, *pairs, ctx, v.name);
    if (!scored) return scored.error();
    qrun::MetricResult r;
    r.values = mc_values(items, *scored, *base, p.flips_on);
    r.details = mc_details(items, *scored, *base, p.flips_on, p.examples, p.example_chars);
    r.details["dataset"] = {{"path", in.dataset->path.string()}, {"format", set->format}, {"items", items.size()}};
    r.method = method_text(p, set->format, items.size(), pairs->size());
    if (p.limit_per_subject > 0 && items.size() < set->items.size())
      r.reductions.push_back("the first " + std::to_string(p.limit_per_subject) + " items of each subject (" +
                             std::to_string(items.size()) + " of " + std::to_string(set->items.size()) + ")");
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("multiple_choice", "0.1.0",
            qrun::metric("multiple_choice", schema,
                         qrun::MetricSpec{.compares_to_baseline = true, .needs_dataset = true,
                                          .section = std::string(qrun::kBehaviouralSection), .values = mc_value_specs()},
                         "Zero-shot multiple-choice accuracy by option log-likelihood (lm-eval acc, acc_norm) for "
                         "ARC/MMLU/HellaSwag files, per subject, with flips and agreement vs the baseline (McNemar).",
                         evaluate));
