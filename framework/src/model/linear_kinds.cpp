// The process-wide registry of linear kinds (qrun/linear_kind.hpp) and the checkpoint helpers
// built on it. Kinds are added by the plugin registry (registry.cpp) when a library that
// registers one is accepted; each entry keeps its library loaded until exit, since its loader's
// code lives there.
#include "model/linear_kinds_registry.hpp"

#include <qrun/linear_kind.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace qrun {
namespace {

struct KindEntry {
  LinearKindInfo info;
  std::string library;              // the file that registered it
  std::shared_ptr<void> keepalive;  // the library's handle
};

struct Kinds {
  std::mutex mutex;
  std::map<std::string, KindEntry, std::less<>> entries;
};

Kinds& kinds() {
  static Kinds* k = new Kinds();  // never destroyed: entries may be used by static destructors
  return *k;
}

std::string shape_text(std::int64_t out, std::int64_t in) { return std::to_string(out) + "x" + std::to_string(in); }

}  // namespace

Result<void> register_linear_kind(LinearKindInfo info, const std::string& library, std::shared_ptr<void> keepalive) {
  if (info.name.empty() || info.name == "dense")
    return Error{library, "registers a linear kind named \"" + info.name + "\"",
                 "give the kind a non-empty name other than \"dense\" (built in)"};
  if (!info.load)
    return Error{library, "registers linear kind \"" + info.name + "\" without a loader",
                 "pass a load function to qrun::linear_kind"};
  Kinds& k = kinds();
  std::lock_guard lock(k.mutex);
  auto it = k.entries.find(info.name);
  if (it != k.entries.end()) {
    if (it->second.library == library) return {};  // the same library loaded again by another Registry
    return Error{library, "registers linear kind \"" + info.name + "\", already registered by " + it->second.library,
                 "rename one of the kinds or remove one library from the plugin path"};
  }
  const std::string name = info.name;
  k.entries.emplace(name, KindEntry{std::move(info), library, std::move(keepalive)});
  return {};
}

const LinearKindInfo* find_linear_kind(std::string_view name) {
  Kinds& k = kinds();
  std::lock_guard lock(k.mutex);
  auto it = k.entries.find(name);
  return it == k.entries.end() ? nullptr : &it->second.info;
}

std::vector<std::string> linear_kind_names() {
  Kinds& k = kinds();
  std::lock_guard lock(k.mutex);
  std::vector<std::string> names;
  for (const auto& [name, e] : k.entries) names.push_back(name);
  return names;
}

std::string linear_kind_library(std::string_view name) {
  Kinds& k = kinds();
  std::lock_guard lock(k.mutex);
  auto it = k.entries.find(name);
  return it == k.entries.end() ? std::string() : it->second.library;
}

Result<at::Tensor> LinearState::get(std::string_view suffix) const {
  at::Tensor t = find(suffix);
  if (!t.defined())
    return Error::of(ErrorCode::not_found, name + "." + std::string(suffix), "is missing from the checkpoint",
                     "use a checkpoint written by the quantizer that made this layer");
  return t;
}

at::Tensor LinearState::find(std::string_view suffix) const {
  for (const auto& [s, t] : tensors)
    if (s == suffix) return t;
  return {};
}

Result<std::string> resolve_linear_kind(const std::string& layer, const std::vector<std::string>& suffixes,
                                        const std::optional<std::string>& recorded_kind) {
  if (recorded_kind) {
    if (*recorded_kind == "dense" || find_linear_kind(*recorded_kind)) return *recorded_kind;
    return Error::of(ErrorCode::not_found, layer,
                     "is stored as linear kind \"" + *recorded_kind + "\", which no loaded plugin provides",
                     "load the plugin that registers it (--plugin-path DIR or QRUN_PLUGIN_PATH; `qrun plugins` "
                     "lists the kinds found)");
  }
  std::vector<std::string> claims;
  {
    Kinds& k = kinds();
    std::lock_guard lock(k.mutex);
    for (const auto& [name, e] : k.entries)
      if (e.info.recognizes && e.info.recognizes(suffixes)) claims.push_back(name);
  }
  if (claims.size() > 1) {
    std::string all;
    for (const auto& c : claims) all += (all.empty() ? "" : ", ") + c;
    return Error::of(ErrorCode::corrupt_input, layer, "is claimed by several linear kinds (" + all + ")",
                     "write the checkpoint with qrun quantize, which records the kind in its metadata");
  }
  return claims.empty() ? std::string("dense") : claims.front();
}

Result<std::shared_ptr<LinearImpl>> load_linear(const std::string& kind, const LinearState& state, std::int64_t out,
                                                std::int64_t in) {
  std::shared_ptr<LinearImpl> layer;
  if (kind == "dense") {
    auto w = state.get("weight");
    if (!w) return w.error();
    if (w->dim() != 2)
      return Error::of(ErrorCode::corrupt_input, state.name + ".weight", "is not a 2-D tensor [out, in]",
                       "use an unmodified checkpoint");
    at::Tensor b = state.find("bias");
    if (b.defined() && (b.dim() != 1 || b.size(0) != w->size(0)))
      return Error::of(ErrorCode::corrupt_input, state.name + ".bias", "does not have out_features entries",
                       "use an unmodified checkpoint");
    layer = make_dense_linear(w->to(state.device), b.defined() ? b.to(state.device) : at::Tensor(), state.compute);
  } else {
    const LinearKindInfo* info = find_linear_kind(kind);
    if (!info) return resolve_linear_kind(state.name, {}, kind).error();
    Result<std::shared_ptr<LinearImpl>> made = Error{state.name, "was not rebuilt", ""};
    try {
      made = info->load(state);
    } catch (const ErrorException& e) {
      return e.error();
    } catch (const std::exception& e) {
      return Error::of(ErrorCode::internal, state.name,
                       "the loader of linear kind \"" + kind + "\" failed: " + e.what(),
                       "report this bug to the plugin's author (" + linear_kind_library(kind) + ")");
    }
    if (!made) return made.error();
    if (!*made)
      return Error::of(ErrorCode::internal, state.name, "the loader of linear kind \"" + kind + "\" returned no layer",
                       "report this bug to the plugin's author (" + linear_kind_library(kind) + ")");
    layer = *made;
    if (layer->kind() != kind)
      return Error::of(ErrorCode::internal, state.name,
                       "the loader of linear kind \"" + kind + "\" built a layer of kind \"" + layer->kind() + "\"",
                       "report this bug to the plugin's author (" + linear_kind_library(kind) + ")");
  }
  if (out > 0 && in > 0 && (layer->out_features() != out || layer->in_features() != in))
    return Error::of(ErrorCode::corrupt_input, state.name,
                     "is a " + shape_text(layer->out_features(), layer->in_features()) + " layer but config.json implies " +
                         shape_text(out, in),
                     "use the config.json that belongs to this checkpoint");
  return layer;
}

std::string linear_metadata_key(const std::string& layer) { return "qrun.linear." + layer; }

std::string linear_metadata_value(const LinearImpl& layer) {
  return nlohmann::json{{"kind", layer.kind()}, {"metadata", layer.metadata()}}.dump();
}

Result<std::pair<std::string, nlohmann::json>> parse_linear_metadata(const std::string& layer, const std::string& value) {
  const std::string thing = "safetensors metadata " + linear_metadata_key(layer);
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kind") || !j["kind"].is_string())
    return Error::of(ErrorCode::corrupt_input, thing, "is not a JSON object with a string \"kind\"",
                     "rewrite the checkpoint with qrun quantize");
  nlohmann::json meta = j.contains("metadata") ? j["metadata"] : nlohmann::json::object();
  if (!meta.is_object())
    return Error::of(ErrorCode::corrupt_input, thing, "has a \"metadata\" that is not a JSON object",
                     "rewrite the checkpoint with qrun quantize");
  return std::make_pair(j["kind"].get<std::string>(), std::move(meta));
}

}  // namespace qrun
