// Executive summary: one short paragraph per variant, built only from numbers in the results.
// Qualitative words ("within", "exceeds") appear only next to a criterion's stated threshold.
#include "report/format.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

struct Found {
  const MetricEntry* metric = nullptr;
  const Value* value = nullptr;
};

// The first overall value with this name, in the report's metric order.
Found first_overall(const RunView& run, const Variant& v, const std::string& name) {
  for (const auto& label : run.metric_labels)
    if (const auto* m = v.metric(label))
      if (const Value* x = m->find(name)) return {m, x};
  return {};
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::vector<std::string> key_numbers(const RunView& run, const Variant& v, const Variant* base) {
  std::vector<std::string> facts;
  if (Found f = first_overall(run, v, "ppl"); f.value) {
    std::string s = "perplexity " + value_cell(*f.value) + " (" + f.metric->label + ")";
    if (base && !v.baseline)
      if (Found b = first_overall(run, *base, "ppl"); b.value && b.metric->label == f.metric->label)
        if (auto p = pct_change(f.value->value, b.value->value))
          s = "perplexity " + value_cell(*f.value) + " vs " + fmt_num(b.value->value) + " (" + fmt_delta(*p) +
              " %, " + f.metric->label + ")";
    facts.push_back(s);
  }
  if (Found f = first_overall(run, v, "kl_mean"); f.value && !v.baseline) facts.push_back("mean KL " + value_cell(*f.value));
  if (Found f = first_overall(run, v, "same_top_p"); f.value && !v.baseline)
    if (auto p = as_percent(*f.value)) facts.push_back("same top token " + fmt_fixed(*p, 2) + " %");
  if (Found f = first_overall(run, v, "accuracy"); f.value)
    if (auto p = as_percent(*f.value)) facts.push_back("prompt accuracy " + fmt_fixed(*p, 2) + " %");
  if (auto bytes = v.storage_value("total_bytes")) {
    std::string s = "size " + fmt_bytes(*bytes);
    if (auto bb = base ? base->storage_value("total_bytes") : std::nullopt; bb && !v.baseline && *bytes > 0)
      s += " (" + fmt_num(*bb / *bytes) + "× compression)";
    facts.push_back(s);
  }
  if (Found f = first_overall(run, v, "decode_tokens_per_s"); f.value) {
    std::string s = "decode " + value_cell(*f.value);
    if (base && !v.baseline)
      if (Found b = first_overall(run, *base, "decode_tokens_per_s"); b.value && f.value->value > 0)
        s += " (" + fmt_num(b.value->value / f.value->value) + "× the baseline's time per token)";
    facts.push_back(s);
  }
  if (Found f = first_overall(run, v, "flip_rate"); f.value) facts.push_back("flip rate " + value_cell(*f.value));
  return facts;
}

}  // namespace

std::string render_summary(const RunView& run, const CriteriaSet& criteria) {
  std::string out = "## Executive summary\n\n";
  const Variant* base = run.baseline();
  if (run.variants.empty()) return out + "_The results document holds no variants._\n\n";
  for (const auto& v : run.variants) {
    std::vector<std::string> facts = key_numbers(run, v, base);
    std::string para = "- **" + v.name + "**" + (v.baseline ? " (baseline)" : "") + ", transforms: " + transform_chain(v) + ". ";
    if (!v.complete) para += "Incomplete: not every metric finished. ";
    para += facts.empty() ? "No headline metric (perplexity, KL, size, speed) was measured." : "Measured " + join(facts, "; ") + ".";
    if (!v.baseline && !criteria.criteria.empty()) {
      auto outcomes = evaluate(run, v, criteria);
      std::vector<std::string> within, exceeds, unmeasured;
      for (const auto& o : outcomes) {
        std::string s = "`" + o.spec->key + "` ";
        if (o.verdict == Verdict::not_applicable) {
          unmeasured.push_back("`" + o.spec->key + "`");
          continue;
        }
        s += fmt_criterion_value(*o.spec, *o.measured) + " " +
             (o.verdict == Verdict::pass ? "within" : o.spec->is_max ? "above" : "below") + " the " +
             fmt_threshold(*o.spec, o.threshold) + " criterion";
        (o.verdict == Verdict::pass ? within : exceeds).push_back(s);
      }
      std::size_t measured = within.size() + exceeds.size();
      para += " Criteria: " + std::to_string(within.size()) + " of " + std::to_string(measured) + " measured met";
      if (!within.empty()) para += " (" + join(within, ", ") + ")";
      if (!exceeds.empty()) para += "; not met: " + join(exceeds, ", ");
      if (!unmeasured.empty()) para += "; not measured: " + join(unmeasured, ", ");
      para += ".";
    }
    out += para + "\n";
  }
  return out + "\n";
}

}  // namespace qrun::report
