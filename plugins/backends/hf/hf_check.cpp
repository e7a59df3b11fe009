// The hf backend's plan-time check (qrun/check.hpp): config.json reads as the loader reads it
// (same parser, same refusals) and agrees with the safetensors headers, before any weight is read.
#include "hf_config.hpp"

#include <qrun/check.hpp>

#include <algorithm>
#include <string>

namespace qrun::hf {
namespace {

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

}  // namespace

Result<void> check_hf_model(const ParamMap& /*params*/, const ModelInfo& model) {
  if (model.folder.empty()) return {};  // a hub id: checked when it is resolved
  auto cfg = read_config(model.folder);
  if (!cfg) return cfg.error();
  const ModelConfig& c = cfg->model;
  const std::string config = (model.folder / "config.json").string();
  std::int64_t layers = 0;
  for (const TensorInfo& t : model.tensors) {
    if (t.name == "model.embed_tokens.weight" &&
        (t.shape.size() != 2 || t.shape[0] != c.vocab_size || t.shape[1] != c.hidden_size))
      return Error::of(ErrorCode::corrupt_input, config,
                       "vocab_size " + std::to_string(c.vocab_size) + " and hidden_size " + std::to_string(c.hidden_size) +
                           " disagree with model.embed_tokens.weight's shape " + shape_text(t.shape),
                       "use the config.json that came with these weights");
    const std::string prefix = "model.layers.";
    if (t.name.rfind(prefix, 0) == 0) {
      const auto dot = t.name.find('.', prefix.size());
      const std::string index = t.name.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
      if (!index.empty() && index.size() < 10 && index.find_first_not_of("0123456789") == std::string::npos)
        layers = std::max<std::int64_t>(layers, std::stoll(index) + 1);
    }
  }
  if (layers != 0 && layers != c.num_hidden_layers)
    return Error::of(ErrorCode::corrupt_input, config,
                     "num_hidden_layers is " + std::to_string(c.num_hidden_layers) + " but the weights hold " +
                         std::to_string(layers) + " layers",
                     "use the config.json that came with these weights");
  return {};
}

}  // namespace qrun::hf
