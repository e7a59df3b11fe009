// refusal: on harmful requests, how often each model refuses (higher is safer); on benign
// requests that look risky, how often it wrongly refuses (over-refusal). Baseline and variants
// answer the same prompts with the same decoding; a refusal-phrase matcher or a judge model
// decides. Definitions: datasets/README.md, "Behavioural harm datasets".
#include "generation.hpp"
#include "judge_loader.hpp"
#include "judges.hpp"
#include "refusal_values.hpp"
#include "request_set.hpp"

#include <qrun/plugin.hpp>

#include <sstream>

namespace {

using namespace qrun::behaviour;

struct Params {
  std::string judge = "prefix";
  std::string prefixes_file = "datasets/refusal_prefixes_gcg.json";
  bool case_sensitive = false;
  std::int64_t match_tokens = 32;
  std::string judge_file = "datasets/refusal_judge_qrun.json";
  std::string judge_model = "baseline";
  std::string judge_backend = "hf";
  std::vector<std::string> judge_backend_params;
  std::string chat = "auto";
  std::string system_prompt;
  std::string unlabelled = "harmful";
  std::int64_t max_new_tokens = 64;
  std::int64_t batch_size = 8;
  bool do_sample = false;
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = 0;
  std::int64_t num_samples = 1;
  std::int64_t limit_per_category = 0;
  std::int64_t examples = 8;
  std::int64_t example_chars = 400;
};

const auto schema = qrun::schema<Params>(
    qrun::field("judge", &Params::judge).choices({"prefix", "model"})
        .doc("prefix: refusal phrases in the first match_tokens tokens (GCG/AdvBench); model: a judge model's verdict"),
    qrun::field("prefixes_file", &Params::prefixes_file)
        .doc("refusal phrases (qrun.refusal_prefixes JSON); relative: working directory, else beside the dataset"),
    qrun::field("case_sensitive", &Params::case_sensitive)
        .doc("prefix judge: match phrases with ASCII case (GCG's own check is case-sensitive; default ignores case)"),
    qrun::field("match_tokens", &Params::match_tokens).min(0).unit("tokens")
        .doc("prefix judge: only the first N generated tokens are searched (0: all)"),
    qrun::field("judge_file", &Params::judge_file)
        .doc("model judge: prompt template and parsing rule (qrun.refusal_judge JSON)"),
    qrun::field("judge_model", &Params::judge_model)
        .doc("model judge: \"baseline\" (the experiment's untransformed model) or a checkpoint folder / hub id"),
    qrun::field("judge_backend", &Params::judge_backend).doc("model judge: the backend that loads judge_model"),
    qrun::field("judge_backend_params", &Params::judge_backend_params)
        .doc("model judge: more backend parameters as \"key=value\" (e.g. \"dtype=bfloat16\")"),
    qrun::field("chat", &Params::chat).choices({"auto", "on", "off"})
        .doc("wrap each request in the tokenizer's chat template: auto = when it has one"),
    qrun::field("system_prompt", &Params::system_prompt).doc("an optional system message before each request"),
    qrun::field("unlabelled", &Params::unlabelled).choices({"harmful", "benign"})
        .doc("what a JSONL request without \"harmful\" is"),
    qrun::field("max_new_tokens", &Params::max_new_tokens).range(1, 8192).unit("tokens").doc("new tokens per answer at most"),
    qrun::field("batch_size", &Params::batch_size).range(1, 1024).unit("prompts").doc("prompts per generate() call"),
    qrun::field("do_sample", &Params::do_sample).doc("false: greedy decoding; true: sampling with the run's seed"),
    qrun::field("temperature", &Params::temperature).range(1e-6, 100.0).doc("sampling temperature (do_sample only)"),
    qrun::field("top_p", &Params::top_p).range(0.0, 1.0).doc("nucleus sampling mass (do_sample only; 1: off)"),
    qrun::field("top_k", &Params::top_k).min(0).doc("top-k sampling (do_sample only; 0: off)"),
    qrun::field("num_samples", &Params::num_samples).range(1, 1000)
        .doc("do_sample only: generations per request, seeds seed, seed+1, ...; paired with the baseline's by seed"),
    qrun::field("limit_per_category", &Params::limit_per_category).min(0).unit("prompts")
        .doc("only the first N requests of each category (0: all; for quick runs)"),
    qrun::field("examples", &Params::examples).min(0).doc("changed answers kept in results.json details"),
    qrun::field("example_chars", &Params::example_chars).range(16, 100000).unit("bytes")
        .doc("model outputs in the examples are truncated to this many bytes"));

Decoding decoding_of(const Params& p, std::uint64_t seed) {
  return {p.max_new_tokens, p.batch_size, p.do_sample, p.temperature, p.top_p, p.top_k, p.num_samples, seed};
}

// The judge as configured: a phrase list, or a judge file and a model.
struct Judge {
  PrefixList prefixes;
  JudgeFile file;
  std::unique_ptr<qrun::Model> owned;  // a judge model loaded from judge_model
  qrun::Model* model = nullptr;
  nlohmann::json record;
};

qrun::Result<Judge> make_judge(const Params& p, const qrun::MetricInputs& in, qrun::RunContext& ctx) {
  Judge j;
  const auto beside = in.dataset->path.parent_path();
  if (p.judge == "prefix") {
    auto path = resolve_data_file(p.prefixes_file, beside, "refusal.prefixes_file");
    if (!path) return path.error();
    auto list = load_prefix_list(*path);
    if (!list) return list.error();
    j.prefixes = std::move(*list);
    j.record = {{"judge", "prefix"}, {"file", path->string()}, {"sha256", j.prefixes.sha256}, {"name", j.prefixes.name},
                {"phrases", j.prefixes.prefixes.size()}, {"case_sensitive", p.case_sensitive},
                {"match_tokens", p.match_tokens}};
    return j;
  }
  auto path = resolve_data_file(p.judge_file, beside, "refusal.judge_file");
  if (!path) return path.error();
  auto file = load_judge_file(*path);
  if (!file) return file.error();
  j.file = std::move(*file);
  if (p.judge_model == "baseline") {
    j.model = in.baseline;
  } else {
    auto m = load_judge_model(p.judge_backend, p.judge_model, p.judge_backend_params, ctx);
    if (!m) return m.error();
    j.owned = std::move(*m);
    j.model = j.owned.get();
  }
  j.record = {{"judge", "model"}, {"file", path->string()}, {"sha256", j.file.sha256}, {"name", j.file.name},
              {"judge_model", p.judge_model == "baseline" ? "baseline (" + in.baseline->source().name + ")" : p.judge_model},
              {"judge_backend", p.judge_backend}, {"judge_max_new_tokens", j.file.max_new_tokens}};
  return j;
}

// Every generation of one model, judged.
qrun::Result<std::vector<Judged>> judge_all(const Params& p, Judge& judge, const qrun::Model& model,
                                            const std::vector<Request>& requests,
                                            const std::vector<std::vector<Output>>& outs, qrun::RunContext& ctx) {
  std::vector<Judged> js;
  std::vector<std::string> reqs, resps;
  for (std::size_t s = 0; s < outs.size(); ++s)
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Judged j{i, static_cast<std::int64_t>(s), Verdict::unparsed, outs[s][i].text, ""};
      if (p.judge == "prefix") {
        const std::string head = decode_first(model, outs[s][i].tokens, p.match_tokens);
        j.verdict = contains_refusal_phrase(head, judge.prefixes.prefixes, p.case_sensitive) ? Verdict::refusal
                                                                                               : Verdict::compliance;
      }
      reqs.push_back(requests[i].text);
      resps.push_back(j.output);
      js.push_back(std::move(j));
    }
  if (p.judge == "model") {
    auto verdicts = run_model_judge(*judge.model, judge.file, reqs, resps, p.batch_size, ctx);
    if (!verdicts) return verdicts.error();
    for (std::size_t k = 0; k < js.size(); ++k) {
      js[k].verdict = (*verdicts)[k].verdict;
      js[k].judge_output = (*verdicts)[k].judge_output;
    }
  }
  return js;
}

std::string method_text(const Params& p, const Judge& j, bool chat, std::size_t n_requests, const std::string& format) {
  std::ostringstream m;
  m << n_requests << " requests (" << format << " file)"
    << (p.limit_per_category > 0 ? " (reduced run: the first " + std::to_string(p.limit_per_category) +
                                       " of each category, limit_per_category)"
                                 : "")
    << ", " << (chat ? "each in the tokenizer's chat template" : "raw text with the tokenizer's special tokens") << "; "
    << (p.do_sample ? "sampled (" + std::to_string(p.num_samples) + " per request, seeds seed..seed+n-1)" : "greedy")
    << " generation of at most " << p.max_new_tokens << " new tokens, identical for every model. ";
  if (p.judge == "prefix")
    m << "Judge: refusal when one of " << j.prefixes.prefixes.size() << " phrases (" << j.prefixes.name
      << ") occurs in the first " << (p.match_tokens > 0 ? std::to_string(p.match_tokens) : "all") << " generated tokens"
      << (p.case_sensitive ? " (case-sensitive)" : " (ASCII case ignored)") << ". ";
  else
    m << "Judge: the model " << j.record["judge_model"].get<std::string>() << " answers the judge file " << j.file.name
      << " (greedy, " << j.file.max_new_tokens << " tokens); the label phrase occurring first decides; unparsed answers "
      << "are left out of the rates. ";
  m << "refusal_rate = refused / harmful generations; over_refusal_rate = refused / benign generations; each with a "
    << "95 % Wilson score interval. Flips pair each generation with the baseline's for the same request and seed; "
    << "McNemar's exact test (two-sided binomial on the discordant pairs). over_refusal_change = variant − baseline "
    << "over-refusal rate in percentage points.";
  return m.str();
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Params& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext& ctx) {
  if (in.dataset == nullptr)
    return qrun::Error{"refusal", "needs a dataset", "name a request file (AdvBench CSV, XSTest CSV or JSONL)"};
  auto set = load_requests(in.dataset->path, p.unlabelled == "harmful");
  if (!set) return set.error();
  const std::vector<Request> requests = first_per_category(set->requests, p.limit_per_category);
  qrun::Model& baseline = *in.baseline;
  auto chat = resolve_chat(p.chat, baseline.tokenizer(), "refusal");
  if (!chat) return chat.error();
  std::vector<std::string> texts;
  for (const Request& q : requests) texts.push_back(q.text);
  auto ids = render_prompts(baseline, texts, *chat, p.system_prompt, p.max_new_tokens, "refusal");
  if (!ids) return ids.error();
  auto judge = make_judge(p, in, ctx);
  if (!judge) return judge.error();
  const Decoding d = decoding_of(p, ctx.seed());

  auto run = [&](qrun::Model& model, const std::string& name) -> qrun::Result<std::vector<Judged>> {
    auto own = render_prompts(model, texts, *chat, p.system_prompt, p.max_new_tokens, "refusal");
    if (!own) return own.error().within("variant " + name + ":");
    if (*own != *ids)
      return qrun::Error{"variant " + name, "tokenizes the requests differently from the baseline",
                         "compare variants of the same model (same tokenizer) only"};
    auto outs = generate_outputs(model, *ids, d, ctx, "refusal: " + name);
    if (!outs) return outs.error();
    return judge_all(p, *judge, model, requests, *outs, ctx);
  };
  auto base = run(baseline, "baseline");
  if (!base) return base.error();
  std::vector<qrun::MetricResult> results;
  for (const auto& v : in.variants) {
    auto judged = v.model == &baseline ? base : run(*v.model, v.name);
    if (!judged) return judged.error();
    qrun::MetricResult r;
    r.values = refusal_values(requests, *judged, *base);
    r.details = refusal_details(requests, *judged, *base, p.examples, p.example_chars);
    r.details["judge"] = judge->record;
    r.details["decoding"] = to_json(d);
    r.details["dataset"] = {{"path", in.dataset->path.string()}, {"format", set->format}, {"requests", requests.size()}};
    r.details["chat"] = *chat;
    r.method = method_text(p, *judge, *chat, requests.size(), set->format);
    if (p.limit_per_category > 0 && requests.size() < set->requests.size())
      r.reductions.push_back("the first " + std::to_string(p.limit_per_category) + " requests of each category (" +
                             std::to_string(requests.size()) + " of " + std::to_string(set->requests.size()) + ")");
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("refusal", "0.1.0",
            qrun::metric("refusal", schema,
                         qrun::MetricSpec{.compares_to_baseline = true, .needs_dataset = true,
                                          .section = std::string(qrun::kBehaviouralSection),
                                          .values = refusal_value_specs()},
                         "Refusal rate on harmful requests and over-refusal on benign ones, with Wilson intervals "
                         "and paired flips vs the baseline (McNemar), by a phrase matcher or a judge model.",
                         evaluate));
