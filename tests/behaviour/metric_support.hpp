// Running a behavioural metric plugin through the registry on given models (test helper).
#pragma once

#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/metric.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace qrun::test {

inline const Registry& behaviour_registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

inline std::unique_ptr<Model> load_hf(const std::string& asset_folder) {
  auto backend = behaviour_registry().make_backend("hf", {{"path", asset(asset_folder).string()}});
  if (!backend) FAIL(backend.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model) FAIL(model.error().message());
  return std::move(*model);
}

// Evaluates `metric` with baseline and one variant (the baseline itself first in the list).
inline Result<std::vector<MetricResult>> try_metric(const std::string& metric, const ParamMap& params,
                                                    const std::filesystem::path& dataset, Model& baseline,
                                                    Model& variant) {
  auto m = behaviour_registry().make_metric(metric, params);
  if (!m) return m.error();
  Dataset ds{"data", dataset, ""};
  MetricInputs in;
  in.baseline = &baseline;
  in.variants = {{"baseline", &baseline, true}, {"variant", &variant, false}};
  in.dataset = &ds;
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  return (*m)->evaluate(in, *ctx);
}

inline std::vector<MetricResult> run_metric(const std::string& metric, const ParamMap& params,
                                            const std::filesystem::path& dataset, Model& baseline, Model& variant) {
  auto r = try_metric(metric, params, dataset, baseline, variant);
  if (!r) FAIL(r.error().message());
  REQUIRE(r->size() == 2);
  return std::move(*r);
}

inline std::optional<MetricValue> find_value(const MetricResult& r, const std::string& name, const std::string& group = "") {
  for (const auto& v : r.values)
    if (v.name == name && v.group == group) return v;
  return std::nullopt;
}

inline double value_of(const MetricResult& r, const std::string& name, const std::string& group = "") {
  auto v = find_value(r, name, group);
  if (!v) FAIL("no value " + name + " in group \"" + group + "\"");
  return v->value;
}

}  // namespace qrun::test
