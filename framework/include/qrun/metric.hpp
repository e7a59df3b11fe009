// Metrics turn models (and a dataset) into typed values. A metric either scores each model on
// its own (perplexity, size, speed) or compares variants with the baseline in lockstep
// (kl_divergence, prompt_suite): the spec's `compares_to_baseline` says which.
//
// A metric also declares every value it returns (MetricSpec::values): its label, unit, which
// direction is better, whether it is a headline number, how a variant compares with the
// baseline, which chart shows it, and which report criteria ([report] keys) may judge it. The
// declarations are recorded in results.json and the report renders from them alone, so a new
// metric gets its tables, charts and criteria without any change to qrun:
//
//   const qrun::MetricSpec spec{.compares_to_baseline = false, .needs_dataset = true, .values = {
//       qrun::value("ppl", "PPL", "", qrun::Better::lower).doc("Perplexity").headline()
//           .charted(qrun::Chart::change_vs_baseline)
//           .criterion("max_ppl_increase_pct", qrun::Rule::increase_pct_at_most, "Perplexity increase vs the baseline"),
//       qrun::value("tokens", "tokens scored", "tokens")}};
#pragma once

#include <qrun/changed_example.hpp>
#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

enum class Better { higher, lower, none };
std::string_view to_string(Better b);  // "higher", "lower", "none"

// How a variant's value is set against the baseline's in tables and the summary.
enum class Compare {
  none,        // no comparison
  change,      // unit "%": difference in percentage points; else 100·(v − base)/base in %
  slowdown,    // throughput: base / v, "× the baseline's time"
  size_ratio,  // sizes: base / v "× smaller" (v / base "× larger")
};

// Which chart shows the value (one chart per declared value that has data).
enum class Chart {
  none,
  per_variant,         // the overall value, one bar per variant
  change_vs_baseline,  // the overall value's change vs the baseline (Compare rule), one bar per variant
  per_group,           // the value per group (category), one series per variant
};

// How a criterion turns a value into the measured number, and which side passes. Thresholds are
// inclusive. "% reading": values in "%" as they are, unit "fraction" times 100.
enum class Rule {
  at_most,               // the value (% reading for % and fraction units) ≤ threshold
  at_least,              // the value (same reading) ≥ threshold
  increase_pct_at_most,  // 100·(v − base)/base ≤ threshold (%)
  drop_pp_at_most,       // base − v in percentage points (% reading) ≤ threshold (pp)
  slowdown_at_most,      // base / v ≤ threshold (×), for throughput
  ratio_at_least,        // base / v ≥ threshold (×), e.g. compression from sizes
  increase_pp_at_most,   // v − base in percentage points (% reading) ≤ threshold (pp)
};

// Which of a value's records a criterion covers: the overall one (group ""), the per-group ones,
// or both. The worst over everything covered decides.
enum class Scope { overall, groups, all };

std::string_view to_string(Compare c);  // "none", "change", "slowdown", "size_ratio"
std::string_view to_string(Chart c);    // "none", "per_variant", "change_vs_baseline", "per_group"
std::string_view to_string(Rule r);     // "at_most", "at_least", "increase_pct_at_most", ...
std::string_view to_string(Scope s);    // "overall", "groups", "all"

// A report criterion a value may be judged by: `key` is its [report] key. Several values (of
// one or several metrics) may declare the same key with the same rule; the worst of them decides.
struct CriterionSpec {
  std::string key;          // "max_ppl_increase_pct"
  Rule rule = Rule::at_most;
  Scope scope = Scope::overall;
  std::string doc;          // what is measured, in one line
};

// The declaration of one value a metric returns (MetricValue::name).
// Intervals: a value `<name>` whose metric also declares `<name>_ci_low` and `<name>_ci_high`
// (same unit, same groups) has that confidence interval; the report states it next to every
// verdict on `<name>` (for the variant and, for rules against the baseline, the baseline).
struct ValueSpec {
  std::string name;          // "ppl"
  std::string label;         // short display label: column header, chart axis ("PPL")
  std::string unit;          // "", "%", "fraction", "nats", "bytes", "tokens/s", "s", "×", ...
  Better better = Better::none;
  std::string description;   // one line: what the number is ("Perplexity"); chart titles, Method
  std::string counts;        // what MetricValue::n counts for it ("scored tokens"); "" = items
  bool is_headline = false;  // headline: in the executive summary and a per-group column; else detail
  Compare compare = Compare::none;
  Chart chart = Chart::none;
  std::vector<CriterionSpec> criteria;

  // Builders: value("ppl", "PPL", "", Better::lower).doc("Perplexity").headline()...
  ValueSpec doc(std::string d) const { ValueSpec v = *this; v.description = std::move(d); return v; }
  ValueSpec counting(std::string c) const { ValueSpec v = *this; v.counts = std::move(c); return v; }
  ValueSpec headline() const { ValueSpec v = *this; v.is_headline = true; return v; }
  ValueSpec compared(Compare c) const { ValueSpec v = *this; v.compare = c; return v; }
  ValueSpec charted(Chart c) const { ValueSpec v = *this; v.chart = c; return v; }
  ValueSpec criterion(std::string key, Rule rule, std::string doc_text, Scope scope = Scope::overall) const {
    ValueSpec v = *this;
    v.criteria.push_back({std::move(key), rule, scope, std::move(doc_text)});
    return v;
  }
};

// A value declaration; compare defaults to Compare::change for a directional value, else none.
inline ValueSpec value(std::string name, std::string label, std::string unit = "", Better better = Better::none) {
  ValueSpec v;
  v.name = std::move(name);
  v.label = std::move(label);
  v.unit = std::move(unit);
  v.better = better;
  v.compare = better == Better::none ? Compare::none : Compare::change;
  return v;
}

// The section of the behavioural metrics (refusal, content injection, multiple-choice flips).
inline constexpr std::string_view kBehaviouralSection = "Behavioural harm";

// What the registry and the report know of a metric besides its parameters.
struct MetricSpec {
  bool compares_to_baseline = false;  // true: evaluated on baseline + variants in lockstep
  bool needs_dataset = false;         // true: the experiment's metric entry must name a dataset
  // The report section the metric's tables go under ("Behavioural harm"); "" = the default
  // sections (one per metric at the top level). Metrics with the same section are shown together,
  // each with its worst categories and its changed answers (qrun/changed_example.hpp).
  std::string section;
  // Every value the metric may return, in display order. Empty: the metric declares nothing and
  // each value is shown under its own name with the unit and direction it carries (no criteria,
  // no charts). Non-empty: returning an undeclared value name is an error.
  std::vector<ValueSpec> values;

  const ValueSpec* find(std::string_view name) const {
    for (const ValueSpec& v : values)
      if (v.name == name) return &v;
    return nullptr;
  }
};

// One number. Values with the same name and different `group` form a table (e.g. per category).
// `unit` and `better` repeat the value's declaration (the runner fills them from it when empty
// and refuses a record that contradicts it).
struct MetricValue {
  std::string name;                  // "ppl", "kl_mean", "success_rate", ...
  double value = 0;
  std::optional<double> stderr_;     // standard error, when the protocol allows one
  std::int64_t n = 0;                // how many items the value summarises (tokens, prompts)
  std::string unit;                  // "", "nats", "%", "bytes", "tokens/s"
  Better better = Better::none;
  std::string group;                 // "" for overall; e.g. a prompt category
};

// A metric's result for one variant.
struct MetricResult {
  std::vector<MetricValue> values;
  nlohmann::json details;            // structured extras (percentile tables, per-prompt outputs)
  std::string method;                // how it was computed, in one paragraph (goes to the report)
  // What this run left out of the metric's data, one phrase each ("the first 4096 of 299078
  // tokens (max_tokens)"); empty for a run on the whole data. The report opens with a REDUCED
  // RUN banner listing them.
  std::vector<std::string> reductions;
};
// A dataset declared in the experiment ([[datasets]]) and handed to the metrics that name it.
struct Dataset {
  std::string name;
  std::filesystem::path path;
  std::string sha256;
};

struct VariantModel {
  std::string name;
  Model* model = nullptr;
  bool is_baseline = false;
};

struct MetricInputs {
  Model* baseline = nullptr;            // always set (for per-model metrics too)
  std::vector<VariantModel> variants;   // the models to evaluate (per-model metrics: exactly one)
  const Dataset* dataset = nullptr;     // set when the metric entry names a dataset
};

class Metric {
 public:
  virtual ~Metric() = default;
  // One MetricResult per entry of in.variants, in the same order.
  virtual Result<std::vector<MetricResult>> evaluate(const MetricInputs& in, RunContext& ctx) = 0;
};

}  // namespace qrun
