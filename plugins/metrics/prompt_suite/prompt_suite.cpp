// prompt_suite: generates answers to a fixed prompt suite with the baseline and every variant and
// compares them (success, accuracy against references, agreement with the baseline, timing) and
// measures KL(P_base ‖ P_var) teacher forced on the baseline's own continuations.
// Definitions: datasets/README.md.
#include "../common/kl_values.hpp"
#include "continuation_kl.hpp"
#include "outcome.hpp"
#include "repetition.hpp"
#include "suite_file.hpp"
#include "suite_generation.hpp"
#include "suite_summary.hpp"

#include <qrun/plugin.hpp>

#include <algorithm>
#include <sstream>

namespace {

using namespace qrun::prompt_suite;

struct Params {
  std::int64_t max_new_tokens = 128;
  std::vector<std::string> categories;       // empty: all
  std::int64_t limit_per_category = 0;       // 0: all
  std::string chat = "auto";
  std::int64_t batch_size = 8;
  bool do_sample = false;
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = 0;
  std::int64_t loop_max_period = LoopRule{}.max_period;
  std::int64_t loop_min_repeats = LoopRule{}.min_repeats;
  std::int64_t loop_min_tokens = LoopRule{}.min_tokens;
  double loop_min_coverage = LoopRule{}.min_coverage;
};

const auto schema = qrun::schema<Params>(
    qrun::field("max_new_tokens", &Params::max_new_tokens).range(1, 8192).unit("tokens")
        .doc("new tokens generated per prompt at most (generation also stops at the model's stop tokens)"),
    qrun::field("categories", &Params::categories)
        .doc("categories to run (empty: all twelve); an unknown name is an error"),
    qrun::field("limit_per_category", &Params::limit_per_category).min(0).unit("prompts")
        .doc("run only the first N prompts of each category (0: all; small values for CI)"),
    qrun::field("chat", &Params::chat).choices({"auto", "on", "off"})
        .doc("wrap each prompt in the tokenizer's chat template (ChatML): auto = when it has one"),
    qrun::field("batch_size", &Params::batch_size).range(1, 1024).unit("prompts")
        .doc("prompts per generate() call and per teacher-forced forward pass"),
    qrun::field("do_sample", &Params::do_sample)
        .doc("false: greedy decoding (argmax); true: sampling with temperature/top_p/top_k and the run's seed"),
    qrun::field("temperature", &Params::temperature).range(1e-6, 100.0).doc("sampling temperature (do_sample only)"),
    qrun::field("top_p", &Params::top_p).range(0.0, 1.0).doc("nucleus sampling mass (do_sample only; 1: off)"),
    qrun::field("top_k", &Params::top_k).min(0).doc("top-k sampling (do_sample only; 0: off)"),
    qrun::field("loop_max_period", &Params::loop_max_period).range(1, 64).unit("tokens")
        .doc("repetition loop: longest repeated unit tried"),
    qrun::field("loop_min_repeats", &Params::loop_min_repeats).range(2, 1000)
        .doc("repetition loop: the unit must occur at least this many times in the looping tail"),
    qrun::field("loop_min_tokens", &Params::loop_min_tokens).min(1).unit("tokens")
        .doc("repetition loop: the looping tail must be at least this long"),
    qrun::field("loop_min_coverage", &Params::loop_min_coverage).range(0.0, 1.0)
        .doc("repetition loop: the looping tail must cover at least this fraction of the output"));

// Suite values first (the per-category columns, in this order), then KlStats' values.
std::vector<qrun::ValueSpec> value_specs() {
  using qrun::Better;
  const std::string prompts = "prompts";
  std::vector<qrun::ValueSpec> v = {
      qrun::value("success_rate", "success", "%", Better::higher)
          .doc("Generated without error, non-empty and not a repetition loop")
          .counting(prompts)
          .headline()
          .criterion("max_success_drop_pct", qrun::Rule::drop_pp_at_most,
                     "Generation success rate lost vs the baseline in percentage points, worst over every "
                     "`success_rate` the baseline also has (overall and per category)",
                     qrun::Scope::all),
      qrun::value("gen_seconds", "mean time", "s", Better::lower)
          .doc("Wall clock of the generate() call serving a prompt")
          .counting("prompts generated without error")
          .headline(),
      qrun::value("tokens_per_s", "tokens/s", "tokens/s", Better::higher)
          .doc("New tokens / wall seconds over the group's generate() calls")
          .counting("new tokens")
          .headline()
          .compared(qrun::Compare::slowdown),
      qrun::value("accuracy", "accuracy", "%", Better::higher)
          .doc("Answers matching their reference (prompts with a reference only)")
          .counting("prompts with a reference")
          .headline()
          .criterion("max_accuracy_drop_pct", qrun::Rule::drop_pp_at_most,
                     "Answer accuracy lost vs the baseline in percentage points, worst over every `accuracy` the "
                     "baseline also has (overall and per category)",
                     qrun::Scope::all),
      qrun::value("agreement", "agreement", "%", Better::higher)
          .doc("Outputs token for token identical to the baseline's")
          .counting(prompts)
          .headline()
          .criterion("min_agreement_pct", qrun::Rule::at_least,
                     "Exact output agreement with the baseline, lowest `agreement` over every category and overall",
                     qrun::Scope::all),
      qrun::value("prefix_agreement", "prefix agreement", "%", Better::higher)
          .doc("Common prefix with the baseline's output / the longer length")
          .counting(prompts),
  };
  for (const qrun::ValueSpec& k : qrun::metrics_common::kl_value_specs({.category_kl = true, .chart_by_group = true}))
    v.push_back(k);
  return v;
}

// What a selection leaves out of the suite, for the REDUCED RUN banner.
std::vector<std::string> reductions(const Params& p, const PromptSuite& suite, std::size_t selected) {
  std::vector<std::string> out;
  if (!p.categories.empty()) {
    std::string list;
    for (const std::string& c : p.categories) list += (list.empty() ? "" : ", ") + c;
    out.push_back("categories " + list + " only (" + std::to_string(p.categories.size()) + " of " +
                  std::to_string(suite.categories.size()) + ")");
  }
  std::size_t in_categories = 0;
  for (const Prompt& q : suite.prompts)
    in_categories += p.categories.empty() ||
                     std::find(p.categories.begin(), p.categories.end(), q.category) != p.categories.end();
  if (p.limit_per_category > 0 && selected < in_categories)
    out.push_back("the first " + std::to_string(p.limit_per_category) + " prompts of each category (limit_per_category): " +
                  std::to_string(selected) + " of " + std::to_string(in_categories) + " prompts");
  return out;
}

std::string method_text(const Params& p, bool chat, std::size_t n_prompts, const std::string& suite) {
  std::ostringstream m;
  m << "Prompt suite " << suite << ": " << n_prompts << " prompts";
  if (!p.categories.empty() || p.limit_per_category > 0) {
    m << " (reduced run:";
    if (!p.categories.empty()) {
      m << " categories";
      for (std::size_t i = 0; i < p.categories.size(); ++i) m << (i ? ", " : " ") << p.categories[i];
      m << " only" << (p.limit_per_category > 0 ? ";" : "");
    }
    if (p.limit_per_category > 0) m << " the first " << p.limit_per_category << " prompts of each category (limit_per_category)";
    m << ")";
  }
  m << ", "
    << (chat ? "each wrapped in the tokenizer's chat template (one user message, generation prompt)"
             : "raw text with the tokenizer's special tokens")
    << "; " << (p.do_sample ? "sampled" : "greedy") << " generation of at most " << p.max_new_tokens
    << " new tokens, " << p.batch_size << " prompts per call (one category per call). "
    << "success = generated without error, non-empty after removing whitespace, and not a repetition loop "
    << "(a tail of period k <= " << p.loop_max_period << " at least max(" << p.loop_min_repeats << "k, "
    << p.loop_min_tokens << ") tokens long covering >= " << p.loop_min_coverage * 100 << " % of the output). "
    << "accuracy = reference matching rules of datasets/README.md; agreement = token ids identical to the "
    << "baseline's; prefix_agreement = common prefix / longer length. gen_seconds = wall clock of the "
    << "generate() call serving the prompt; tokens_per_s = new tokens / wall seconds over the group's calls. "
    << "KL(P_base || P_var) per token over the full vocabulary (nats), teacher forced on prompt + the "
    << "baseline's continuation, every continuation position scored; statistics as llama.cpp's "
    << "--kl-divergence (percentiles from 100 tokens).";
  return m.str();
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Params& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  if (in.dataset == nullptr)
    return qrun::Error{"prompt_suite", "needs a dataset", "name the prompt-suite dataset (datasets/prompt_suite_96.json)"};
  if (in.baseline == nullptr) return qrun::Error{"prompt_suite", "has no baseline model", "report this as a qrun bug",
                                                 qrun::ErrorCode::internal};
  auto suite = load_prompt_suite(in.dataset->path);
  if (!suite) return suite.error();
  auto prompts = select_prompts(*suite, p.categories, p.limit_per_category);
  if (!prompts) return prompts.error();
  qrun::Model& baseline = *in.baseline;
  auto chat = resolve_chat(p.chat, baseline.tokenizer());
  if (!chat) return chat.error();
  auto prompt_ids = render_prompts(baseline, *prompts, *chat, p.max_new_tokens);
  if (!prompt_ids) return prompt_ids.error();
  // Every variant must read the very same token ids (a tokenizer mismatch stops the run).
  for (const auto& v : in.variants) {
    if (v.model == &baseline) continue;
    auto ids = render_prompts(*v.model, *prompts, *chat, p.max_new_tokens);
    if (!ids) return ids.error().within("variant " + v.name + ":");
    if (*ids != *prompt_ids)
      return qrun::Error{"variant " + v.name, "tokenizes the prompts differently from the baseline",
                         "compare variants of the same model (same tokenizer) only"};
  }

  qrun::GenerationConfig gen;
  gen.max_new_tokens = p.max_new_tokens;
  gen.do_sample = p.do_sample;
  gen.temperature = p.temperature;
  gen.top_p = p.top_p;
  gen.top_k = p.top_k;
  gen.seed = ctx.seed();
  const LoopRule loop_rule{p.loop_max_period, p.loop_min_repeats, p.loop_min_tokens, p.loop_min_coverage};

  // The baseline's generations: computed once, reused for every variant.
  GenerationRun base_run = generate_all(baseline, *prompts, *prompt_ids, gen, p.batch_size, ctx,
                                        "prompt_suite: baseline");
  std::vector<std::vector<std::int64_t>> continuations;
  for (std::size_t i = 0; i < prompts->size(); ++i) {
    if (!base_run.prompts[i].ok)
      return qrun::Error{"prompt_suite: baseline generation for prompt " + (*prompts)[i].id,
                         base_run.prompts[i].error, "fix the baseline model or backend"};
    continuations.push_back(base_run.prompts[i].tokens);
  }

  std::vector<GenerationRun> runs;
  std::vector<qrun::Model*> models;
  for (const auto& v : in.variants) {
    models.push_back(v.model);
    if (v.model == &baseline) runs.push_back(base_run);
    else runs.push_back(generate_all(*v.model, *prompts, *prompt_ids, gen, p.batch_size, ctx, "prompt_suite: " + v.name));
  }
  auto kl = compare_on_continuations(baseline, models, *prompt_ids, continuations, p.batch_size, ctx);
  if (!kl) return kl.error();

  std::vector<qrun::MetricResult> results;
  for (std::size_t v = 0; v < in.variants.size(); ++v) {
    std::vector<PromptOutcome> outcomes;
    for (std::size_t i = 0; i < prompts->size(); ++i)
      outcomes.push_back(judge((*prompts)[i], static_cast<std::int64_t>((*prompt_ids)[i].size()), runs[v].prompts[i],
                               base_run.prompts[i], loop_rule, (*kl)[v][i]));
    auto summary = summarise(outcomes, suite->categories, runs[v].calls);
    if (!summary) return summary.error().within("variant " + in.variants[v].name + ":");
    summary->method = method_text(p, *chat, prompts->size(), suite->name);
    summary->reductions = reductions(p, *suite, prompts->size());
    summary->details["suite"] = {{"name", suite->name}, {"schema_version", suite->schema_version},
                                 {"dataset", in.dataset->path.string()}, {"chat", *chat}};
    summary->details["loop_rule"] = {{"max_period", loop_rule.max_period}, {"min_repeats", loop_rule.min_repeats},
                                     {"min_tokens", loop_rule.min_tokens}, {"min_coverage", loop_rule.min_coverage}};
    results.push_back(std::move(*summary));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("prompt_suite", "0.1.0",
            qrun::metric("prompt_suite", schema,
                         qrun::MetricSpec{.compares_to_baseline = true, .needs_dataset = true, .values = value_specs()},
                         "Generates the prompt suite with baseline and variants: success, accuracy, agreement, "
                         "speed, and KL teacher forced on the baseline's continuation, per category.",
                         evaluate));
