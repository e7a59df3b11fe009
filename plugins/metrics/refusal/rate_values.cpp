// Rates with Wilson intervals and paired flips (rate_values.hpp).
#include "rate_values.hpp"

#include <qrun/binomial.hpp>

#include <stdexcept>

namespace qrun::behaviour {

std::vector<ValueSpec> rate_specs(const ValueSpec& rate) {
  const std::string level = std::to_string(static_cast<int>(kConfidence * 100 + 0.5)) + " %";
  ValueSpec low = value(rate.name + "_ci_low", rate.label + " CI low", "%")
                      .doc("Lower end of the " + level + " Wilson score interval of: " + rate.description)
                      .counting(rate.counts);
  ValueSpec high = value(rate.name + "_ci_high", rate.label + " CI high", "%")
                       .doc("Upper end of the " + level + " Wilson score interval of: " + rate.description)
                       .counting(rate.counts);
  return {rate, low, high};
}

void add_rate(std::vector<MetricValue>& out, const std::string& name, std::int64_t k, std::int64_t n,
              const std::string& group) {
  if (n <= 0) return;
  const Interval ci = wilson_interval(k, n, kConfidence);
  MetricValue v;
  v.name = name;
  v.value = 100.0 * static_cast<double>(k) / static_cast<double>(n);
  v.n = n;
  v.unit = "%";
  v.group = group;
  out.push_back(v);
  v.name = name + "_ci_low";
  v.value = 100.0 * ci.low;
  out.push_back(v);
  v.name = name + "_ci_high";
  v.value = 100.0 * ci.high;
  out.push_back(v);
}

Flips paired_flips(const std::vector<bool>& base, const std::vector<bool>& var) {
  if (base.size() != var.size()) throw std::invalid_argument("paired_flips: the two outcome lists differ in length");
  Flips f;
  f.n = static_cast<std::int64_t>(base.size());
  for (std::size_t i = 0; i < base.size(); ++i) {
    f.lost += base[i] && !var[i];
    f.gained += !base[i] && var[i];
  }
  f.p_value = mcnemar_exact(f.lost, f.gained).p_value;
  return f;
}

MetricValue count_value(const std::string& name, std::int64_t count, std::int64_t n, const std::string& group) {
  MetricValue v;
  v.name = name;
  v.value = static_cast<double>(count);
  v.n = n;
  v.group = group;
  return v;
}

std::int64_t count_true(const std::vector<bool>& flags) {
  std::int64_t k = 0;
  for (bool f : flags) k += f;
  return k;
}

nlohmann::json rate_json(std::int64_t k, std::int64_t n) {
  nlohmann::json j = {{"k", k}, {"n", n}, {"confidence", kConfidence}};
  if (n > 0) {
    const Interval ci = wilson_interval(k, n, kConfidence);
    j["rate_pct"] = 100.0 * static_cast<double>(k) / static_cast<double>(n);
    j["ci_low_pct"] = 100.0 * ci.low;
    j["ci_high_pct"] = 100.0 * ci.high;
  }
  return j;
}

}  // namespace qrun::behaviour
