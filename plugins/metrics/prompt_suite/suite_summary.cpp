// Aggregation of per-prompt outcomes into MetricValues.
#include "suite_summary.hpp"

#include <qrun/stats.hpp>

#include <cmath>

namespace qrun::prompt_suite {

namespace {

// A proportion in percent with its binomial standard error sqrt(f(1-f)/(n-1)) (as llama.cpp's
// same-top-p); no stderr below two items.
MetricValue rate(const std::string& name, std::int64_t hits, std::int64_t n, const std::string& group) {
  MetricValue v;
  v.name = name;
  v.n = n;
  v.unit = "%";
  v.better = Better::higher;
  v.group = group;
  const double f = n > 0 ? static_cast<double>(hits) / static_cast<double>(n) : 0.0;
  v.value = 100.0 * f;
  if (n >= 2) v.stderr_ = 100.0 * std::sqrt(f * (1.0 - f) / static_cast<double>(n - 1));
  return v;
}

nlohmann::json prompt_details(const PromptOutcome& o) {
  const PromptRun& r = *o.run;
  nlohmann::json j = {
      {"id", o.prompt->id},
      {"category", o.prompt->category},
      {"prompt_tokens", o.prompt_tokens},
      {"ok", r.ok},
      {"text", r.text},
      {"tokens", r.tokens},
      {"n_tokens", r.tokens.size()},
      {"stopped_on_eos", r.stopped_on_eos},
      {"seconds", r.seconds},
      {"prefill_seconds", r.prefill_seconds},
      {"decode_seconds", r.decode_seconds},
      {"success", o.success},
      {"failure", o.failure},
      {"loop", {{"is_loop", o.loop.is_loop}, {"period", o.loop.period}, {"length", o.loop.length}}},
      {"correct", o.correct ? nlohmann::json(*o.correct) : nlohmann::json(nullptr)},
      {"agrees_with_baseline", o.agrees},
      {"prefix_agreement", o.prefix_agreement},
      {"kl_tokens", o.kl->n()},
      {"kl_mean", o.kl->n() > 0 ? nlohmann::json(o.kl->kl().mean()) : nlohmann::json(nullptr)},
  };
  if (!r.ok) j["error"] = r.error;
  return j;
}

}  // namespace

Result<MetricResult> summarise(const std::vector<PromptOutcome>& outcomes, const std::vector<std::string>& categories,
                               const std::vector<GenerateCall>& calls) {
  MetricResult result;
  result.details["prompts"] = nlohmann::json::array();
  for (const auto& o : outcomes) result.details["prompts"].push_back(prompt_details(o));
  result.details["kl"] = nlohmann::json::object();

  std::vector<std::string> groups = {""};
  for (const auto& c : categories) groups.push_back(c);
  for (const auto& group : groups) {
    std::int64_t n = 0, successes = 0, with_reference = 0, correct = 0, agreeing = 0;
    RunningStats seconds, prefix;
    KlStats kl;
    for (const auto& o : outcomes) {
      if (!group.empty() && o.prompt->category != group) continue;
      ++n;
      successes += o.success ? 1 : 0;
      if (o.correct) {
        ++with_reference;
        correct += *o.correct ? 1 : 0;
      }
      agreeing += o.agrees ? 1 : 0;
      prefix.add(o.prefix_agreement);
      if (o.run->ok) seconds.add(o.run->seconds);
      kl.merge(*o.kl);
    }
    if (n == 0) continue;  // a category left out by the selection

    result.values.push_back(rate("success_rate", successes, n, group));
    if (seconds.n() > 0) {
      MetricValue v{"gen_seconds", seconds.mean(), std::nullopt, seconds.n(), "s", Better::lower, group};
      if (seconds.n() >= 2) v.stderr_ = seconds.stderr_();
      result.values.push_back(v);
    }
    // Throughput: new tokens over wall-clock seconds, summed over this group's generate() calls.
    double call_seconds = 0;
    std::int64_t call_tokens = 0;
    for (const auto& c : calls) {
      if (!group.empty() && c.category != group) continue;
      call_seconds += c.seconds;
      call_tokens += c.new_tokens;
    }
    if (call_seconds > 0)
      result.values.push_back({"tokens_per_s", static_cast<double>(call_tokens) / call_seconds, std::nullopt,
                               call_tokens, "tokens/s", Better::higher, group});
    if (with_reference > 0) result.values.push_back(rate("accuracy", correct, with_reference, group));
    result.values.push_back(rate("agreement", agreeing, n, group));
    MetricValue pa{"prefix_agreement", 100.0 * prefix.mean(), std::nullopt, prefix.n(), "%", Better::higher, group};
    if (prefix.n() >= 2) pa.stderr_ = 100.0 * prefix.stderr_();
    result.values.push_back(pa);
    if (kl.n() > 0) {
      auto kl_values = kl.values(group);
      if (!kl_values) return kl_values.error();
      for (auto& v : *kl_values) result.values.push_back(std::move(v));
      result.details["kl"][group] = kl.details();
    }
  }
  return result;
}

}  // namespace qrun::prompt_suite
