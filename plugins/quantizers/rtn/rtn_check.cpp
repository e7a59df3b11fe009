// rtn's plan-time check (qrun/check.hpp): group_size divides the input features of every linear
// layer the include/exclude patterns select (and they select one), before any weight is read.
#include <qrun/check.hpp>
#include <qrun/quant/layer_select.hpp>

#include <algorithm>

#include <string>
#include <vector>

namespace {

qrun::Result<void> check_rtn(const qrun::ParamMap& p, const qrun::ModelInfo& model) {
  const std::int64_t group = std::get<std::int64_t>(p.at("group_size"));
  if (group == 0) return qrun::Error{"group_size", "is 0", "use a positive group size (e.g. 128) or -1 for whole rows"};
  std::vector<std::string> layers;
  std::vector<std::int64_t> in_features;
  for (const qrun::TensorInfo& t : model.tensors) {
    if (!qrun::ModelInfo::is_linear_weight(t)) continue;
    layers.push_back(t.name.substr(0, t.name.size() - 7));  // without ".weight"
    in_features.push_back(t.shape[1]);
  }
  if (layers.empty()) return {};  // nothing known of the model's layers yet
  auto selected = qrun::quant::select_layers(layers, std::get<std::vector<std::string>>(p.at("include")),
                                             std::get<std::vector<std::string>>(p.at("exclude")), "include");
  if (!selected) return selected.error();
  if (group < 0) return {};
  for (const std::string& name : *selected) {
    const auto i = static_cast<std::size_t>(std::find(layers.begin(), layers.end(), name) - layers.begin());
    if (in_features[i] % group != 0)
      return qrun::Error{"group_size",
                         std::to_string(group) + " does not divide " + name + "'s " + std::to_string(in_features[i]) +
                             " input features",
                         "use a group size that divides every selected layer's input features, -1, or exclude " + name};
  }
  return {};
}

}  // namespace

QRUN_PLUGIN_CHECKS({"rtn", &check_rtn});
