// Harm indicators and defense success criteria. A criterion is a [report] key that some declared
// value names (ValueSpec::criteria, recorded in results.json "declarations"; the framework's
// storage accounting declares min_compression): the report knows no key by itself.
//
//   [report]
//   title = "Seed study"
//   max_ppl_increase_pct = 5     # declared by perplexity's `ppl`
//   max_category_kl = 1.0        # declared by prompt_suite's per-category `kl_mean`
//
// A criterion applies to every non-baseline variant that has the values it needs; otherwise it
// is "n/a" for that variant with the reason. Each cell is the worst measured value over every
// value that declares the key (within its scope). Comparisons are inclusive (a measured value
// equal to the threshold passes) with a relative tolerance of kCriterionTolerance, so that
// rounding in derived values (ratios, percentages) cannot flip a verdict exactly at the threshold.
#pragma once

#include "report/run_view.hpp"
#include "results/declarations.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::report {

inline constexpr double kCriterionTolerance = 1e-9;

struct Criterion {
  DeclaredCriterion spec;
  double threshold = 0;
};

enum class Verdict { pass, fail, not_applicable };

struct CriterionOutcome {
  DeclaredCriterion spec;
  double threshold = 0;
  Verdict verdict = Verdict::not_applicable;
  std::optional<double> measured;  // the worst value over what the criterion covers
  std::string where;               // which metric/category gave the worst value
  std::string reason;              // for n/a: what is missing
  std::string evidence;            // the declared intervals behind `measured` ("" when none)
};

struct CriteriaSet {
  std::vector<DeclaredCriterion> available;  // every key this document's declarations define
  std::vector<Criterion> criteria;           // those [report] sets, in `available` order
  std::vector<std::string> ignored_keys;     // keys in [report] that are neither title nor a criterion

  const DeclaredCriterion* find(std::string_view key) const;
};

// The criteria the run's declarations define (every recorded declaration, the metrics in report
// order first, then storage) and
// the thresholds its [report] table sets (non-numeric values are ignored and listed). Error when
// two declarations of one key disagree.
Result<CriteriaSet> criteria_from(const RunView& run);
// Evaluates every criterion for one variant against the run's baseline.
std::vector<CriterionOutcome> evaluate(const RunView& run, const VariantRecord& variant, const CriteriaSet& set);

// Measured value with the criterion's unit ("3.10 %", "0.8123 nats", "1.25×").
std::string fmt_criterion_value(const DeclaredCriterion& spec, double v);
// "≤ 5 %" / "≥ 90 %"
std::string fmt_threshold(const DeclaredCriterion& spec, double threshold);
// "pass" / "FAIL" / "n/a"
std::string_view to_string(Verdict v);

}  // namespace qrun::report
