// Values of the behavioural metrics: a rate in % with its Wilson interval, paired flips against
// the baseline with McNemar's exact p (qrun/binomial.hpp), and their declarations. Shared by
// refusal, content_injection and multiple_choice (each compiles this file).
#pragma once

#include <qrun/metric.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::behaviour {

inline constexpr double kConfidence = 0.95;  // two-sided level of every interval reported

// The declarations of `<name>`, `<name>_ci_low`, `<name>_ci_high` (all "%"); `rate` is the
// declaration of the rate itself, the interval bounds are detail values without direction.
std::vector<ValueSpec> rate_specs(const ValueSpec& rate);

// Appends `<name>` = 100·k/n and its Wilson interval bounds (in %), all with n and `group`.
// Nothing when n == 0 (no items: the rate is undefined, not 0).
void add_rate(std::vector<MetricValue>& out, const std::string& name, std::int64_t k, std::int64_t n,
              const std::string& group = "");

// Paired outcomes of the same items: `base[i]`, `var[i]` true when item i has the property
// (refused, injected, answered right).
struct Flips {
  std::int64_t n = 0;
  std::int64_t lost = 0;    // base true, variant false
  std::int64_t gained = 0;  // base false, variant true
  double p_value = 1;       // McNemar's exact two-sided p on (lost, gained)
};
Flips paired_flips(const std::vector<bool>& base, const std::vector<bool>& var);

// A count value (unit "items" given by the caller) with n.
MetricValue count_value(const std::string& name, std::int64_t count, std::int64_t n, const std::string& group = "");

// k of the flags that are true.
std::int64_t count_true(const std::vector<bool>& flags);

// The JSON record of a rate for details: {"k", "n", "rate_pct", "ci_low_pct", "ci_high_pct", "confidence"}.
nlohmann::json rate_json(std::int64_t k, std::int64_t n);

}  // namespace qrun::behaviour
