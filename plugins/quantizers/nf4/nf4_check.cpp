// nf4's plan-time check (qrun/check.hpp): the block size is one bitsandbytes supports and the
// include/exclude patterns select at least one linear layer of the model, before any weight is read.
#include <qrun/check.hpp>
#include <qrun/quant/blockwise4.hpp>
#include <qrun/quant/layer_select.hpp>

namespace {

qrun::Result<void> check_nf4(const qrun::ParamMap& p, const qrun::ModelInfo& model) {
  QRUN_TRY(qrun::quant::check_blocksize_4bit(std::get<std::int64_t>(p.at("blocksize")), "blocksize"));
  std::vector<std::string> layers;
  for (const qrun::TensorInfo& t : model.tensors)
    if (qrun::ModelInfo::is_linear_weight(t)) layers.push_back(t.name.substr(0, t.name.size() - 7));
  if (layers.empty()) return {};  // nothing known of the model's layers yet
  auto selected = qrun::quant::select_layers(layers, std::get<std::vector<std::string>>(p.at("include")),
                                             std::get<std::vector<std::string>>(p.at("exclude")), "include");
  if (!selected) return selected.error();
  return {};
}

}  // namespace

QRUN_PLUGIN_CHECKS({"nf4", &check_nf4});
