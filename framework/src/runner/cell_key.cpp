// Content keys of a plan's cells.
#include "runner/cell_key.hpp"

#include "common/version.hpp"
#include "registry/registry.hpp"
#include "runner/model_identity.hpp"
#include <qrun/sha256.hpp>

namespace qrun::runner {
namespace {

using json = nlohmann::json;

std::string plugin_version(const Registry& registry, const std::string& component) {
  const LoadedPlugin* p = registry.plugin_of(component);
  return p ? p->version : "";
}

json chain_json(const Registry& registry, const PlannedVariant& v) {
  json chain = json::array();
  for (const TransformEntry& t : v.chain)
    chain.push_back({{"use", t.use}, {"version", plugin_version(registry, t.use)}, {"params", to_json(t.params)}});
  return {{"name", v.name}, {"baseline", v.baseline}, {"chain", chain}};
}

Result<std::vector<DatasetRecord>> hash_datasets(const Plan& plan, const std::optional<std::filesystem::path>& cache) {
  std::vector<DatasetRecord> out;
  for (std::size_t i = 0; i < plan.datasets.size(); ++i) {
    const DatasetEntry& d = plan.datasets[i];
    std::error_code ec;
    if (!std::filesystem::is_regular_file(d.path, ec)) {
      return Error{d.where + " datasets[" + std::to_string(i) + "].path",
                   "no file '" + d.path.string() + "' (relative paths resolve against the current folder " +
                       std::filesystem::current_path().string() + ")",
                   "get the data set (see README: Data) or point to it with --set datasets[" + std::to_string(i) +
                       "].path=/path/to/file",
                   ErrorCode::not_found};
    }
    auto sha = cached_sha256(d.path, cache);
    if (!sha) return sha.error();
    out.push_back({d.name, d.path.string(), *sha});
  }
  return out;
}

}  // namespace

Result<CellPlan> plan_cells(const Plan& plan, const Registry& registry, const std::optional<std::filesystem::path>& hash_cache) {
  CellPlan out;
  QRUN_ASSIGN_OR_RETURN(out.datasets, hash_datasets(plan, hash_cache));
  QRUN_ASSIGN_OR_RETURN(out.model, model_identity(plan.model, hash_cache));
  const json common = {{"qrun", std::string(qrun_version())},
                       {"torch", std::string(torch_build_version())},
                       {"seed", plan.seed},
                       {"model", out.model},
                       {"backend_version", plugin_version(registry, plan.model.use)}};
  const PlannedVariant& base = plan.variants.front();
  for (std::size_t v = 0; v < plan.variants.size(); ++v) {
    for (std::size_t m = 0; m < plan.metrics.size(); ++m) {
      const MetricEntry& me = plan.metrics[m];
      json material = common;
      material["variant"] = chain_json(registry, plan.variants[v]);
      material["metric"] = {{"use", me.use},
                            {"version", plugin_version(registry, me.use)},
                            {"label", me.label},
                            {"params", to_json(me.params)}};
      material["dataset"] = nullptr;
      if (me.dataset)
        for (const DatasetRecord& d : out.datasets)
          if (d.name == *me.dataset) material["dataset"] = {{"name", d.name}, {"sha256", d.sha256}};
      if (me.spec.compares_to_baseline) material["baseline"] = chain_json(registry, base);
      const std::string key = sha256_hex(material.dump()).substr(0, 32);
      out.cells.push_back({v, m, key, std::move(material)});
    }
  }
  return out;
}

std::string cell_name(const Plan& plan, const PlannedCell& cell) {
  return plan.variants[cell.variant].name + " / " + plan.metrics[cell.metric].label;
}

}  // namespace qrun::runner
