// Deterministic, cost-balanced assignment of cells to shards.
#include "runner/shard.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>
#include <set>

namespace qrun::runner {
namespace {

std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

double param_number(const ParamMap& params, const std::string& name, double fallback) {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  if (const auto* i = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&it->second)) return *d;
  return fallback;
}

}  // namespace

Result<Shard> parse_shard(std::string_view text, const std::string& option) {
  const auto slash = text.find('/');
  const std::string fix = "write it as I/N with 1 <= I <= N, e.g. " + option + " 2/3";
  if (slash == std::string_view::npos) return Error{option, "'" + std::string(text) + "' has no '/'", fix};
  auto i = parse_int(text.substr(0, slash));
  auto n = parse_int(text.substr(slash + 1));
  if (!i || !n) return Error{option, "'" + std::string(text) + "' is not two integers I/N", fix};
  if (*n < 1 || *i < 1 || *i > *n) return Error{option, "'" + std::string(text) + "' is out of range", fix};
  return Shard{*i, *n};
}

double metric_cost(const MetricEntry& m) {
  // Relative units from what the entry declares, never from plugin names (the core names no
  // plugin): one forward pass over the scored tokens is 1; a metric that compares with the
  // baseline also runs the baseline; generation (a max_new_tokens parameter) costs a pass per
  // new token; a metric without a dataset reads only weights.
  double cost = m.spec.needs_dataset ? 1.0 : 0.2;
  if (m.spec.compares_to_baseline) cost *= 2.0;
  if (m.params.count("max_new_tokens")) cost *= 2.0;
  // Token-budgeted metrics scale with their budget (4096 tokens = the unit above).
  if (m.params.count("max_tokens")) cost *= std::max(0.05, param_number(m.params, "max_tokens", 4096) / 4096.0);
  return cost;
}

double build_cost(const PlannedVariant& v) {
  // A transform that takes calibration data (a `calibration` parameter: GPTQ, AWQ, SmoothQuant...)
  // runs the model layer by layer; the others only rewrite weights.
  double cost = 0;
  for (const TransformEntry& t : v.chain) cost += t.params.count("calibration") ? 6.0 : 0.2;
  return cost;
}

std::vector<int> assign_shards(const Plan& plan, const std::vector<PlannedCell>& cells, int count) {
  std::vector<int> out(cells.size(), 1);
  if (count <= 1) return out;
  std::vector<double> cost(cells.size());
  for (std::size_t c = 0; c < cells.size(); ++c) cost[c] = metric_cost(plan.metrics[cells[c].metric]);
  std::vector<std::size_t> order(cells.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; equal costs keep plan order (stable sort).
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  std::vector<double> load(static_cast<std::size_t>(count), 0.0);
  std::vector<std::set<std::size_t>> built(static_cast<std::size_t>(count));
  for (std::size_t c : order) {
    const std::size_t v = cells[c].variant;
    const double build = build_cost(plan.variants[v]);
    std::size_t best = 0;
    double best_load = 0;
    for (std::size_t s = 0; s < load.size(); ++s) {
      const double after = load[s] + cost[c] + (built[s].count(v) ? 0.0 : build);
      if (s == 0 || after < best_load - 1e-12) {
        best = s;
        best_load = after;
      }
    }
    load[best] = best_load;
    built[best].insert(v);
    out[c] = static_cast<int>(best) + 1;
  }
  return out;
}

}  // namespace qrun::runner
