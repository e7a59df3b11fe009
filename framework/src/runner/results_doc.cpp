// results.json while a run fills it: a fresh document, merging an earlier run's finished cells.
#include "runner/results_doc.hpp"

#include "common/version.hpp"
#include "results/results.hpp"
#include "runner/provenance.hpp"
#include "runner/runner.hpp"

#include <cmath>

namespace qrun {

nlohmann::json resume_key(const nlohmann::json& experiment_json) {
  nlohmann::json key = experiment_json;
  if (key.is_object()) {
    key.erase("output_dir");  // the same run may be named by --output or by the file
    key.erase("report");      // criteria and title change the report, not the numbers
  }
  return key;
}

namespace runner {

using json = nlohmann::json;

json new_results_doc(const Experiment& e, const Registry& registry, std::chrono::system_clock::time_point started) {
  json doc;
  doc["schema_version"] = kResultsSchemaVersion;
  doc["experiment"] = to_json(e);
  doc["experiment_file"] = e.file.string();
  auto commit = git_commit();
  doc["provenance"] = {{"qrun_version", std::string(qrun_version())},
                       {"git_commit", commit ? json(*commit) : json(nullptr)},
                       {"torch_version", torch_runtime_version()},
                       {"device", nullptr},
                       {"host", host_name()},
                       {"plugins", plugins_json(registry)},
                       {"model", nullptr},
                       {"datasets", json::array()},
                       {"started", utc_timestamp(started)},
                       {"finished", nullptr}};
  doc["variants"] = json::array();
  for (const VariantEntry& v : e.variants) {
    json transforms = json::array();
    for (const TransformEntry& t : v.transforms) {
      transforms.push_back({{"use", t.use},
                            {"role", std::string(to_string(t.role))},
                            {"params", to_json(t.params)},
                            {"summary", nullptr},
                            {"details", nullptr}});
    }
    doc["variants"].push_back({{"name", v.name},
                               {"baseline", v.baseline},
                               {"transforms", std::move(transforms)},
                               {"storage", nullptr},
                               {"compute_dtype", nullptr},
                               {"storage_dtype", nullptr},
                               {"metrics", json::object()},
                               {"complete", false}});
  }
  doc["complete"] = false;
  return doc;
}

Result<int> merge_previous(json& doc, const json& old, const std::filesystem::path& old_file) {
  const json a = resume_key(old["experiment"]);
  const json b = resume_key(doc["experiment"]);
  if (a != b) {
    const json patch = json::diff(a, b);
    const std::string where = patch.empty() ? "" : patch[0].value("path", "");
    return Error{old_file.string(),
                 "was written by a different experiment (first difference at experiment" + where + ")",
                 "rerun with --fresh to discard those results, or write to another folder with --output DIR"};
  }
  // The data must be the data the old cells were computed on.
  const json& old_prov = old["provenance"];
  if (old_prov.contains("datasets") && old_prov["datasets"].is_array()) {
    for (const json& od : old_prov["datasets"]) {
      for (const json& nd : doc["provenance"]["datasets"]) {
        if (od.value("name", "") == nd.value("name", "") && od.value("sha256", "") != nd.value("sha256", "")) {
          return Error{nd.value("path", ""),
                       "changed since " + old_file.string() + " was written (sha256 " + nd.value("sha256", "") +
                           ", was " + od.value("sha256", "") + ")",
                       "rerun with --fresh to recompute everything on the new data, or restore the old file"};
        }
      }
    }
  }
  if (old_prov.contains("started")) doc["provenance"]["first_started"] = old_prov.value("first_started", old_prov["started"]);
  if (old_prov.contains("model")) doc["provenance"]["model"] = old_prov["model"];
  if (old_prov.contains("device")) doc["provenance"]["device"] = old_prov["device"];

  int taken = 0;
  for (const json& ov : old["variants"]) {
    for (json& nv : doc["variants"]) {
      if (nv["name"] != ov["name"]) continue;
      for (const auto& [label, cell] : ov["metrics"].items()) {
        nv["metrics"][label] = cell;
        ++taken;
      }
      for (const char* key : {"transforms", "storage", "compute_dtype", "storage_dtype"}) {
        if (ov.contains(key) && !ov[key].is_null()) nv[key] = ov[key];
      }
    }
  }
  return taken;
}

json& variant_doc(json& doc, const std::string& name) {
  for (json& v : doc["variants"]) {
    if (v["name"] == name) return v;
  }
  throw ErrorException(Error{"results.json variants", "has no variant '" + name + "'", ""});  // built from the experiment: unreachable
}

bool has_cell(const json& variant, const std::string& label) {
  return variant.contains("metrics") && variant["metrics"].contains(label);
}

Result<json> metric_cell(const MetricEntry& m, const MetricResult& r, const std::string& variant) {
  for (const MetricValue& v : r.values) {
    const bool bad_value = !std::isfinite(v.value);
    const bool bad_stderr = v.stderr_ && !std::isfinite(*v.stderr_);
    if (bad_value || bad_stderr) {
      return Error{m.use + " (metric '" + m.label + "' on variant '" + variant + "') value " + v.name +
                       (v.group.empty() ? "" : " [" + v.group + "]"),
                   std::string(bad_value ? "is " : "has a standard error of ") +
                       std::to_string(bad_value ? v.value : *v.stderr_),
                   "a NaN/Inf result means the model or the metric diverged; check the variant's transforms"};
    }
  }
  json cell = to_json(r);
  cell["use"] = m.use;
  cell["dataset"] = m.dataset ? json(*m.dataset) : json(nullptr);
  cell["params"] = to_json(m.params);
  return cell;
}

bool update_completeness(json& doc, const Experiment& e) {
  bool all = true;
  for (json& v : doc["variants"]) {
    bool complete = true;
    for (const MetricEntry& m : e.metrics) complete = complete && has_cell(v, m.label);
    v["complete"] = complete;
    all = all && complete;
  }
  return all;
}

}  // namespace runner
}  // namespace qrun
