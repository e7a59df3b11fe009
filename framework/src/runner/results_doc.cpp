// The Results document a run's cells are assembled into.
#include "runner/results_doc.hpp"

#include "common/version.hpp"
#include "results/declarations.hpp"
#include "runner/provenance.hpp"

#include <cmath>

namespace qrun {

namespace runner {

Results new_results(const Plan& plan, const Registry& registry, std::chrono::system_clock::time_point started) {
  Results doc;
  doc.experiment = plan.experiment_json;
  doc.experiment_file = plan.experiment_file.string();
  Provenance& p = doc.provenance;
  p.qrun_version = std::string(qrun_version());
  p.git_commit = git_commit();
  p.torch_version = torch_runtime_version();
  p.host = host_name();
  for (const nlohmann::json& pl : plugins_json(registry)) {
    PluginRecord r{pl.value("id", ""), pl.value("version", ""), pl.value("path", ""), pl.value("torch_version", ""), {}};
    r.components = pl.value("components", std::vector<std::string>{});
    p.plugins.push_back(std::move(r));
  }
  p.overrides = plan.overrides;
  p.started = utc_timestamp(started);
  for (const MetricEntry& m : plan.metrics) doc.declarations[m.use] = m.spec;
  // Variants in the experiment file's order (the plan builds the baseline first).
  if (plan.experiment_json.contains("variants") && plan.experiment_json["variants"].is_array())
    for (const nlohmann::json& ev : plan.experiment_json["variants"])
      for (const PlannedVariant& v : plan.variants) {
        if (ev.value("name", "") != v.name) continue;
        VariantRecord r;
        r.name = v.name;
        r.baseline = v.baseline;
        for (const TransformEntry& t : v.chain)
          r.transforms.push_back({t.use, std::string(to_string(t.role)), to_json(t.params), std::nullopt, nullptr});
        doc.variants.push_back(std::move(r));
      }
  return doc;
}

VariantRecord& variant_of(Results& doc, const std::string& name) {
  if (VariantRecord* v = doc.variant(name)) return *v;
  // Built from the plan: unreachable.
  throw ErrorException(Error::of(ErrorCode::internal, "results.json variants", "has no variant '" + name + "'"));
}

bool has_cell(const VariantRecord& variant, const std::string& label) { return variant.metric(label) != nullptr; }

Result<MetricCell> metric_cell(const MetricEntry& m, MetricResult r, const MetricSpec& spec, const std::string& variant) {
  const std::string thing = m.use + " (metric '" + m.label + "' on variant '" + variant + "')";
  QRUN_TRY(conform_to_spec(spec, r, thing));
  for (const MetricValue& v : r.values) {
    const bool bad_value = !std::isfinite(v.value);
    const bool bad_stderr = v.stderr_ && !std::isfinite(*v.stderr_);
    if (bad_value || bad_stderr) {
      return Error{thing + " value " + v.name + (v.group.empty() ? "" : " [" + v.group + "]"),
                   std::string(bad_value ? "is " : "has a standard error of ") +
                       std::to_string(bad_value ? v.value : *v.stderr_),
                   "a NaN/Inf result means the model or the metric diverged; check the variant's transforms"};
    }
  }
  MetricCell cell;
  cell.use = m.use;
  cell.dataset = m.dataset;
  cell.params = to_json(m.params);
  cell.result = std::move(r);
  return cell;
}

bool update_completeness(Results& doc, const Plan& plan) {
  bool all = true;
  for (VariantRecord& v : doc.variants) {
    bool complete = true;
    for (const MetricEntry& m : plan.metrics) complete = complete && has_cell(v, m.label);
    v.complete = complete;
    all = all && complete;
  }
  return all;
}

}  // namespace runner
}  // namespace qrun
