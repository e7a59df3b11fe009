// The resolved experiment as JSON (results.json "experiment"), the declared [report] keys and
// the default output folder.
#include "experiment/experiment.hpp"
#include "registry/registry.hpp"
#include "results/declarations.hpp"

#include <ctime>

namespace qrun {

Result<std::vector<ReportField>> report_fields(const Registry& registry) {
  // A criterion not set is not judged; results/declarations.hpp merges the declarations.
  std::vector<std::pair<std::string, const MetricSpec*>> metrics;
  for (const ComponentInfo* c : registry.components())
    if (c->kind == Kind::metric) metrics.push_back({c->name, &c->metric});
  auto criteria = declared_criteria(metrics);
  if (!criteria) return criteria.error();
  std::vector<ReportField> f = {{std::string(kReportTitleKey), ParamType::string, std::nullopt, "report title"}};
  for (const DeclaredCriterion& c : *criteria)
    f.push_back({c.key, ParamType::real, 0.0, c.doc + (c.unit.empty() ? "" : " (" + c.unit + ")")});
  return f;
}

std::filesystem::path default_output_dir(const std::string& name, std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  return std::filesystem::path("reports") / (name + "-" + stamp);
}

nlohmann::json to_json(const ParamValue& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

nlohmann::json to_json(const ParamMap& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = to_json(v);
  return j;
}

nlohmann::json to_json(const Experiment& e) {
  nlohmann::json j;
  j["name"] = e.name;
  j["seed"] = e.seed;
  j["output_dir"] = e.output_dir.string();
  j["model"] = {{"use", e.model.use}, {"params", to_json(e.model.params)}};
  j["datasets"] = nlohmann::json::array();
  for (const auto& d : e.datasets) j["datasets"].push_back({{"name", d.name}, {"path", d.path.string()}});
  j["variants"] = nlohmann::json::array();
  for (const auto& v : e.variants) {
    nlohmann::json tr = nlohmann::json::array();
    for (const auto& t : v.transforms) {
      tr.push_back({{"use", t.use}, {"role", std::string(to_string(t.role))}, {"params", to_json(t.params)}});
    }
    j["variants"].push_back({{"name", v.name}, {"baseline", v.baseline}, {"transforms", std::move(tr)}});
  }
  j["baseline"] = e.variants.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.variants[e.baseline].name);
  j["metrics"] = nlohmann::json::array();
  for (const auto& m : e.metrics) {
    j["metrics"].push_back({{"name", m.label},
                            {"use", m.use},
                            {"dataset", m.dataset ? nlohmann::json(*m.dataset) : nlohmann::json(nullptr)},
                            {"compares_to_baseline", m.spec.compares_to_baseline},
                            {"params", to_json(m.params)}});
  }
  nlohmann::json report = nlohmann::json::object();
  report["title"] = e.report.title;
  for (const auto& [k, v] : e.report.criteria) report[k] = v;
  j["report"] = std::move(report);
  return j;
}

}  // namespace qrun
