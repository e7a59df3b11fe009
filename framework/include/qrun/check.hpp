// Plan-time checks (issue 18): a plugin's own parameter checks that depend on the model, run by
// `qrun run` (and --dry-run) after the experiment validated and before any weight is read or any
// cell computed. The model is described from its files' headers only (ModelInfo); a failing check
// stops the run before the first cell with the plugin's Error.
//
// Optional and additive: a library may export, besides qrun_plugin_info, the symbol
// `qrun_plugin_checks` (QRUN_PLUGIN_CHECKS below). A library without it has no plan-time checks;
// a host that does not know the symbol ignores it. `api_version` is this header's
// QRUN_PLUGIN_CHECKS_VERSION (not QRUN_PLUGIN_API_VERSION): the host ignores a table of another
// version (the library then has no plan-time checks), so neither side needs rebuilding.
//
//   qrun::Result<void> check(const qrun::ParamMap& p, const qrun::ModelInfo& m) {
//     const auto g = std::get<std::int64_t>(p.at("group_size"));
//     for (const qrun::TensorInfo& t : m.tensors)
//       if (m.is_linear_weight(t) && t.shape[1] % g != 0) return qrun::Error{...};
//     return {};
//   }
//   QRUN_PLUGIN_CHECKS({"rtn", &check});
#pragma once

#include <qrun/error.hpp>
#include <qrun/params.hpp>

#include <boost/dll/alias.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#define QRUN_PLUGIN_CHECKS_VERSION 1u

namespace qrun {

// One tensor as a checkpoint header states it (safetensors: name, dtype name, shape).
struct TensorInfo {
  std::string name;                  // "model.layers.0.self_attn.q_proj.weight"
  std::string dtype;                 // as in the file: "F32", "BF16", "U8", ...
  std::vector<std::int64_t> shape;   // [out_features, in_features] for a linear weight
};

// What is known of the model before loading it. `tensors` is empty when the backend's model is
// not a local folder of safetensors files (e.g. a hub id not yet downloaded): checks then have
// nothing to compare against and should pass.
struct ModelInfo {
  std::string backend;                 // the `use` of [model]
  std::filesystem::path folder;        // "" when not a local folder
  std::string architecture;            // config.json "architectures"[0], "" when unknown
  std::vector<TensorInfo> tensors;     // every tensor of every safetensors file, sorted by name
  std::uint64_t weight_bytes = 0;      // sum of the tensors' stored sizes

  // A 2-D "*.weight" tensor other than the embeddings and the output head: a linear layer's
  // [out_features, in_features] weight in the Hugging Face layout.
  static bool is_linear_weight(const TensorInfo& t) {
    const std::string& n = t.name;
    auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
    return t.shape.size() == 2 && ends(".weight") && n.find("embed") == std::string::npos && !ends("lm_head.weight");
  }
};

// A component's check; `params` are validated against its schema with defaults filled in.
using ParamCheck = Result<void> (*)(const ParamMap& params, const ModelInfo& model);

struct ParamCheckEntry {
  const char* component;  // the component name (`use =`) the check belongs to
  ParamCheck check;
};

}  // namespace qrun

extern "C" struct qrun_plugin_checks {
  std::uint32_t api_version;  // QRUN_PLUGIN_CHECKS_VERSION at build time
  std::size_t count;
  const qrun::ParamCheckEntry* entries;
};

// QRUN_PLUGIN_CHECKS({"component", &fn}, ...): defines and exports `qrun_plugin_checks`.
#define QRUN_PLUGIN_CHECKS(...)                                                                 \
  namespace qrun_plugin_checks_ {                                                               \
  inline const qrun_plugin_checks* get_checks() {                                               \
    static const qrun::ParamCheckEntry entries[] = {__VA_ARGS__};                               \
    static const qrun_plugin_checks table = {QRUN_PLUGIN_CHECKS_VERSION,                        \
                                             sizeof(entries) / sizeof(entries[0]), entries};    \
    return &table;                                                                              \
  }                                                                                             \
  }                                                                                             \
  BOOST_DLL_ALIAS(qrun_plugin_checks_::get_checks, qrun_plugin_checks)
