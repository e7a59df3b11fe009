// The measurements of qrun_bench (see measure.hpp).
#include "speed/measure.hpp"

#include "suite_file.hpp"        // plugins/metrics/prompt_suite: the suite loader the metric uses
#include "suite_generation.hpp"  // ... and its prompt rendering

#include <qrun/eval_corpus.hpp>
#include <qrun/metric.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#ifdef QRUN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>

namespace qrun::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string str(std::int64_t v) { return std::to_string(v); }

// Wall seconds of fn(), synchronised with the device on both ends.
template <class Fn>
double timed(c10::Device device, Fn&& fn) {
  synchronize(device);
  const auto t0 = Clock::now();
  fn();
  synchronize(device);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

const MetricValue* find_value(const MetricResult& r, const std::string& name) {
  for (const MetricValue& v : r.values)
    if (v.name == name && v.group.empty()) return &v;
  return nullptr;
}

}  // namespace

void synchronize(c10::Device device) {
#ifdef QRUN_WITH_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Result<nlohmann::json> measure_perplexity(const Registry& registry, Model& model, const PerplexitySettings& s,
                                          RunContext& ctx) {
  auto info = registry.find("perplexity", Kind::metric);
  if (!info) return info.error().within("qrun_bench perplexity:");
  // A window cap: the plugin's max_windows when it has one, else the same chunks via max_tokens
  // (llama.cpp cuts n / n_ctx chunks, so windows · n_ctx tokens give exactly `windows` chunks).
  const bool has_max_windows = (*info)->schema.find("max_windows") != nullptr;
  ParamMap params{{"protocol", std::string("chunks")}, {"n_ctx", s.n_ctx}, {"batch_size", s.batch_size}};
  std::int64_t max_tokens = 0;
  if (s.windows > 0) {
    if (has_max_windows) {
      params["max_windows"] = s.windows;
    } else {
      max_tokens = s.windows * s.n_ctx;
      params["max_tokens"] = max_tokens;
    }
  }
  auto metric = registry.make_metric("perplexity", params);
  if (!metric) return metric.error().within("qrun_bench perplexity:");
  auto sha = sha256_file(s.text);
  if (!sha) return sha.error().within("--wikitext");
  const Dataset dataset{s.text.stem().string(), s.text, *sha};
  MetricInputs inputs;
  inputs.baseline = &model;
  inputs.variants.push_back(VariantModel{"bench", &model, true});
  inputs.dataset = &dataset;
  const CorpusParams corpus_params{"chunks", 0, 0, s.n_ctx, max_tokens, "auto"};

  std::vector<double> seconds, corpus_seconds;
  MetricResult last;
  for (std::int64_t run = 0; run <= s.repeats; ++run) {  // run 0: warm-up
    Result<std::vector<MetricResult>> r = Error{"", "", ""};
    const double t = timed(model.device(), [&] { r = (*metric)->evaluate(inputs, ctx); });
    if (!r) return r.error().within("qrun_bench perplexity:");
    if (r->size() != 1) return Error{"perplexity metric", "returned " + str(static_cast<std::int64_t>(r->size())) +
                                     " results for 1 variant", "fix the metric plugin"};
    last = std::move(r->front());
    const std::int64_t ran = last.details.value("windows", std::int64_t{-1});
    if (s.windows > 0 && ran != s.windows)  // checked after the warm-up: the text is too short
      return Error{"--ppl-windows", "asked for " + str(s.windows) + " windows but the text gives " + str(ran) +
                   " chunks of " + str(s.n_ctx) + " tokens", "use --ppl-windows " + str(ran) + " or 0 (all)"};
    // The tokenization and window planning alone (the metric's first step), timed apart.
    Result<Corpus> corpus = Error{"", "", ""};
    const double tc = timed(c10::Device(c10::kCPU), [&] { corpus = build_corpus(model, s.text, corpus_params); });
    if (!corpus) return corpus.error().within("qrun_bench perplexity:");
    if (run > 0) {
      seconds.push_back(t);
      corpus_seconds.push_back(tc);
    }
    ctx.info("perplexity run " + str(run) + (run == 0 ? " (warm-up)" : "") + ": " + std::to_string(t) + " s");
  }
  const MetricValue* ppl = find_value(last, "ppl");
  if (!ppl) return Error{"perplexity metric", "gave no \"ppl\" value", "fix the metric plugin"};
  if (!last.details.contains("windows"))
    return Error{"perplexity metric", "details have no \"windows\" count", "fix the metric plugin"};
  const std::int64_t windows = last.details["windows"].get<std::int64_t>();
  const std::int64_t tokens = windows * s.n_ctx;  // tokens fed through the model
  const double sec = median(seconds), corpus_sec = median(corpus_seconds);
  return nlohmann::json{
      {"protocol", "chunks"},
      {"n_ctx", s.n_ctx},
      {"batch_size", s.batch_size},
      {"windows", windows},
      {"window_limit", s.windows > 0 ? (has_max_windows ? "max_windows" : "max_tokens") : "none"},
      {"tokens_processed", tokens},
      {"tokens_scored", last.details.value("tokens_scored", std::int64_t{0})},
      {"ppl", ppl->value},
      {"ppl_stderr", ppl->stderr_.value_or(0.0)},
      {"seconds_median", sec},
      {"seconds_runs", seconds},
      {"tokenize_seconds", corpus_sec},
      {"tokenize_seconds_runs", corpus_seconds},
      {"tokens_per_s", sec > corpus_sec ? static_cast<double>(tokens) / (sec - corpus_sec) : 0.0},
      {"tokens_per_s_incl_tokenize", static_cast<double>(tokens) / sec},
      {"method", "Metric::evaluate of the perplexity plugin (protocol chunks) timed end to end (it tokenizes the "
                 "whole file): tokens_per_s_incl_tokenize = windows·n_ctx / median seconds; tokens_per_s subtracts "
                 "the median time of qrun::build_corpus (the same tokenization and window planning), timed "
                 "separately, as transformers' loop excludes its one-off tokenization."}};
}

Result<std::vector<std::int64_t>> wiki_prompt(const Tokenizer& tokenizer, const std::filesystem::path& text,
                                              std::int64_t prompt_tokens) {
  std::ifstream f(text, std::ios::binary);
  if (!f) return Error{text.string(), "cannot be read", "pass --wikitext PATH/wiki.test.raw"};
  std::string head(4096, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(f.gcount()));
  // Cut back to a whole UTF-8 character (Python: bytes.decode("utf-8", errors="ignore") at the end).
  std::size_t end = head.size();
  std::size_t lead = end;
  while (lead > 0 && (static_cast<unsigned char>(head[lead - 1]) & 0xC0) == 0x80) --lead;
  if (lead > 0) {
    const auto c = static_cast<unsigned char>(head[lead - 1]);
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (end - (lead - 1) < need) end = lead - 1;
  }
  head.resize(end);
  std::vector<std::int64_t> ids = tokenizer.encode(head, /*add_special_tokens=*/false);
  if (static_cast<std::int64_t>(ids.size()) < prompt_tokens)
    return Error{text.string(), "its first 4096 bytes give " + str(static_cast<std::int64_t>(ids.size())) +
                 " tokens, fewer than --decode-prompt " + str(prompt_tokens), "use a shorter --decode-prompt"};
  ids.resize(static_cast<std::size_t>(prompt_tokens));
  return ids;
}

Result<nlohmann::json> measure_generate(Model& model, const std::vector<std::vector<std::int64_t>>& prompts,
                                        const GenerateSettings& s, RunContext& ctx, const std::string& label) {
  GenerationConfig g;
  g.max_new_tokens = s.new_tokens;
  g.do_sample = false;
  const auto n_new = static_cast<std::size_t>(s.new_tokens);
  std::set<std::int64_t> produced;
  std::int64_t stop = model.config().vocab_size - 1;
  // Warm-up, which also picks the stop id: one the greedy run never produces.
  constexpr int kStopAttempts = 8;
  for (int attempt = 0;; ++attempt) {
    g.stop_token_ids = {stop};
    auto gens = model.generate(prompts, g);
    if (!gens) return gens.error().within(label + ":");
    if (gens->size() != prompts.size())
      return Error{label, "Model::generate returned " + str(static_cast<std::int64_t>(gens->size())) +
                   " generations for " + str(static_cast<std::int64_t>(prompts.size())) + " prompts", "fix the backend"};
    bool full = true;
    for (const Generation& gen : *gens) {
      produced.insert(gen.tokens.begin(), gen.tokens.end());
      full = full && gen.tokens.size() == n_new;
    }
    if (full) break;
    if (attempt + 1 == kStopAttempts)
      return Error{label, "every stop id tried was generated, so generation ends early",
                   "add an ignore-EOS option to GenerationConfig"};
    while (stop > 0 && produced.count(stop)) --stop;
    ctx.info(label + ": warm-up produced the stop id; retrying with stop id " + str(stop));
  }
  std::vector<double> seconds, prefill, decode;
  std::vector<std::int64_t> first_tokens;
  for (std::int64_t run = 1; run <= s.repeats; ++run) {
    Result<std::vector<Generation>> gens = Error{"", "", ""};
    const double t = timed(model.device(), [&] { gens = model.generate(prompts, g); });
    if (!gens) return gens.error().within(label + ":");
    for (std::size_t i = 0; i < gens->size(); ++i)
      if ((*gens)[i].tokens.size() != n_new)
        return Error{label + " run " + str(run) + " prompt " + str(static_cast<std::int64_t>(i)),
                     "gave " + str(static_cast<std::int64_t>((*gens)[i].tokens.size())) + " tokens, not " +
                         str(s.new_tokens) + " (the stop id " + str(stop) + " was produced: greedy decoding is not "
                         "deterministic here)", "add an ignore-EOS option to GenerationConfig"};
    seconds.push_back(t);
    prefill.push_back(gens->front().prefill_seconds);
    decode.push_back(gens->front().decode_seconds);
    first_tokens.assign(gens->front().tokens.begin(), gens->front().tokens.begin() + std::min<std::size_t>(16, n_new));
    ctx.info(label + " run " + str(run) + ": " + std::to_string(t) + " s");
  }
  std::int64_t shortest = 0, longest = 0;
  for (const auto& p : prompts) {
    const auto n = static_cast<std::int64_t>(p.size());
    shortest = shortest == 0 ? n : std::min(shortest, n);
    longest = std::max(longest, n);
  }
  const double sec = median(seconds);
  const auto n_prompts = static_cast<std::int64_t>(prompts.size());
  return nlohmann::json{
      {"prompts", n_prompts},
      {"prompt_tokens_min", shortest},
      {"prompt_tokens_max", longest},
      {"new_tokens", s.new_tokens},
      {"stop_token_id", stop},
      {"seconds_median", sec},
      {"seconds_runs", seconds},
      {"new_tokens_per_s", static_cast<double>(n_prompts * s.new_tokens) / sec},
      {"backend_prefill_seconds_median", median(prefill)},
      {"backend_decode_seconds_median", median(decode)},
      {"first_prompt_first_tokens", first_tokens},
      {"method", "wall seconds of one Model::generate call (greedy, batch " + str(n_prompts) + ", exactly " +
                 str(s.new_tokens) + " new tokens each: the stop set holds only id " + str(stop) +
                 ", which the warm-up never produced), synchronised; median of the timed runs after one warm-up."}};
}

Result<std::vector<std::vector<std::int64_t>>> suite_prompts(const Model& model, const std::filesystem::path& suite,
                                                             std::int64_t new_tokens, bool& chat_used) {
  auto file = prompt_suite::load_prompt_suite(suite);
  if (!file) return file.error().within("--suite");
  auto prompts = prompt_suite::select_prompts(*file, {}, 0);
  if (!prompts) return prompts.error().within("--suite");
  auto chat = prompt_suite::resolve_chat("auto", model.tokenizer());
  if (!chat) return chat.error();
  chat_used = *chat;
  return prompt_suite::render_prompts(model, *prompts, *chat, new_tokens);
}

}  // namespace qrun::bench
