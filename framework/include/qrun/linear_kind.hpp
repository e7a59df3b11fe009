// Linear kinds: how a quantized layer type is rebuilt from what a checkpoint stores. A quantizer
// plugin registers its kind next to its transform (qrun::linear_kind in plugin.hpp); the backend's
// checkpoint loader, `qrun quantize`, the size metrics and the forensics find it here by name,
// so the core never names a quantization format.
//
// A checkpoint written by qrun records, for every non-dense layer, the safetensors metadata entry
//   "qrun.linear.<layer name>" = {"kind": "<kind>", "metadata": <LinearImpl::metadata()>}
// (JSON text) beside the layer's tensors "<layer name>.<suffix>" from LinearImpl::state().
// A checkpoint written by another tool carries no such entry; each kind may then recognise its
// own tensor names (e.g. bitsandbytes' "weight.quant_state.bitsandbytes__nf4").
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

// What a kind's loader receives: the layer's stored tensors (CPU, as stored) and where to build it.
struct LinearState {
  std::string name;              // the layer's name, for errors ("model.layers.0.mlp.up_proj")
  NamedTensors tensors;          // by suffix, as LinearImpl::state() wrote them
  nlohmann::json metadata;       // LinearImpl::metadata() as recorded (empty object when absent); for a
                                 // layer without qrun's record in a folder whose config.json has a
                                 // "quantization_config" (or a quantize_config.json):
                                 // {"quantization_config": that object}
  c10::ScalarType compute = c10::ScalarType::Float;  // the model's compute dtype
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  // The safetensors dtype name each tensor was stored with, by suffix ("F8_E5M2", "I8", "F32"):
  // loaded tensors lose it where libtorch has no such dtype (F8_* load as uint8 bytes). Empty
  // (or a suffix missing) when unknown, e.g. tensors that never were in a safetensors file.
  std::map<std::string, std::string> stored_dtypes;

  // The stored dtype name of `suffix`, or "" when unknown.
  std::string stored_dtype(const std::string& suffix) const {
    const auto it = stored_dtypes.find(suffix);
    return it == stored_dtypes.end() ? std::string() : it->second;
  }
  // The tensor stored under `suffix`, or an error naming "<name>.<suffix>".
  Result<at::Tensor> get(std::string_view suffix) const;
  // The tensor stored under `suffix`, or an undefined tensor.
  at::Tensor find(std::string_view suffix) const;
};

using LinearLoader = std::function<Result<std::shared_ptr<LinearImpl>>(const LinearState&)>;
// Given the suffixes of one layer's tensors in a checkpoint without qrun metadata, whether they
// are this kind's (null: the kind is only found through qrun's metadata).
using LinearRecognizer = std::function<bool(const std::vector<std::string>& suffixes)>;

struct LinearKindInfo {
  std::string name;         // the value of LinearImpl::kind(), unique across plugins
  std::string description;  // one line
  LinearLoader load;
  LinearRecognizer recognizes;
};

// The kind registered under `name`, or null. Kinds are registered while plugins load and live
// until exit (a process-wide registry, as LLVM's Registry<T>).
const LinearKindInfo* find_linear_kind(std::string_view name);
std::vector<std::string> linear_kind_names();  // sorted; "dense" is built in and not listed

// The kind of a layer stored with these tensor suffixes and (optional) recorded kind name:
// the recorded name when given, else the one registered kind that recognises the suffixes,
// else "dense". Error when the recorded kind is not registered (naming the plugin search path)
// or when several kinds claim the same suffixes.
Result<std::string> resolve_linear_kind(const std::string& layer, const std::vector<std::string>& suffixes,
                                        const std::optional<std::string>& recorded_kind);

// Rebuilds a layer of kind `kind` ("dense": weight [+ bias] via make_dense_linear, on
// state.device) and checks its shape is [out, in] when out/in are positive.
Result<std::shared_ptr<LinearImpl>> load_linear(const std::string& kind, const LinearState& state,
                                                std::int64_t out = 0, std::int64_t in = 0);

// The safetensors metadata key and value recording a layer's kind (see the top of this file).
std::string linear_metadata_key(const std::string& layer);
std::string linear_metadata_value(const LinearImpl& layer);
// Parses a value written by linear_metadata_value: {kind, metadata}. Error on malformed JSON.
Result<std::pair<std::string, nlohmann::json>> parse_linear_metadata(const std::string& layer, const std::string& value);

}  // namespace qrun
