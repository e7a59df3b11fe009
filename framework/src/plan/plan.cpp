// Experiment -> Plan, and the --dry-run listing.
#include "plan/plan.hpp"

#include "registry/registry.hpp"

#include <sstream>

namespace qrun {

namespace {

std::string render_params(const ParamMap& params) {
  if (params.empty()) return "(no parameters)";
  std::string s;
  for (const auto& [k, v] : params) s += (s.empty() ? "" : ", ") + k + " = " + to_string(v);
  return s;
}

std::string plugin_label(const Registry& registry, const std::string& component) {
  const LoadedPlugin* p = registry.plugin_of(component);
  if (!p) return component;
  return component + " (" + p->id + " " + p->version + ", " + p->path.string() + ")";
}

}  // namespace

Plan make_plan(const Experiment& e, std::vector<std::string> overrides) {
  Plan plan;
  plan.experiment = e.name;
  plan.experiment_file = e.file;
  plan.experiment_json = to_json(e);
  plan.overrides = std::move(overrides);
  plan.seed = e.seed;
  plan.output_dir = e.output_dir;
  plan.model = e.model;
  plan.datasets = e.datasets;
  const VariantEntry& base = e.variants.at(e.baseline);
  plan.variants.push_back({base.name, true, base.transforms});
  for (std::size_t i = 0; i < e.variants.size(); ++i) {
    if (i != e.baseline) plan.variants.push_back({e.variants[i].name, false, e.variants[i].transforms});
  }
  plan.metrics = e.metrics;
  for (const MetricEntry& m : e.metrics) {
    (m.spec.compares_to_baseline ? plan.comparison : plan.per_model).push_back(m);
  }
  return plan;
}

std::string describe_plan(const Plan& plan, const Registry& registry) {
  std::ostringstream out;
  out << "experiment " << plan.experiment << " (seed " << plan.seed << ")\n";
  out << "output     " << plan.output_dir.string() << "/\n";
  for (const std::string& o : plan.overrides) out << "--set      " << o << "\n";
  out << "\n";
  out << "model      " << plugin_label(registry, plan.model.use) << "\n";
  out << "           " << render_params(plan.model.params) << "\n\n";

  out << "datasets\n";
  if (plan.datasets.empty()) out << "  (none)\n";
  for (const DatasetEntry& d : plan.datasets) {
    std::error_code ec;
    const bool present = std::filesystem::is_regular_file(d.path, ec);
    out << "  " << d.name << ": " << d.path.string() << (present ? "" : "   [MISSING: the run will stop here]") << "\n";
  }

  out << "\nvariants (built in this order; each from a fresh copy of the baseline)\n";
  for (std::size_t i = 0; i < plan.variants.size(); ++i) {
    const PlannedVariant& v = plan.variants[i];
    out << "  " << i + 1 << ". " << v.name << (v.baseline ? "  [baseline]" : "") << "\n";
    if (v.chain.empty()) out << "       no transforms\n";
    for (std::size_t k = 0; k < v.chain.size(); ++k) {
      const TransformEntry& t = v.chain[k];
      out << "       " << (char)('a' + k) << ") " << to_string(t.role) << " " << plugin_label(registry, t.use) << "\n";
      out << "          " << render_params(t.params) << "\n";
    }
  }

  auto list_metrics = [&](const std::vector<MetricEntry>& ms) {
    if (ms.empty()) out << "  (none)\n";
    for (const MetricEntry& m : ms) {
      out << "  " << m.label << ": " << plugin_label(registry, m.use);
      if (m.dataset) out << "  on dataset " << *m.dataset;
      out << "\n     " << render_params(m.params) << "\n";
    }
  };
  out << "\nper-model metrics (run on each variant right after it is built)\n";
  list_metrics(plan.per_model);
  out << "\ncomparison metrics (baseline and all variants in lockstep)\n";
  list_metrics(plan.comparison);
  return out.str();
}

}  // namespace qrun
