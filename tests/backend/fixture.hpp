// Shared helpers of the backend tests: load a shared model through the hf backend, read goldens.
#pragma once

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace qrun {
class Registry;
}

namespace qrun::test {

// The hf backend on a folder (CPU unless `device` says otherwise). Fails the test if loading fails.
std::unique_ptr<Model> load_model(const std::filesystem::path& folder, const std::string& dtype = "float32",
                                  const std::string& device = "cpu");
// Same, but returns the Result (for error tests).
Result<std::unique_ptr<Model>> try_load_model(const std::filesystem::path& folder, const std::string& dtype = "float32",
                                              const std::string& device = "cpu");
RunContext& test_context();
// The product plugins (QRUN_PLUGIN_PATH): quantizers, metrics and the linear kinds they register.
const Registry& plugin_registry();

// A tensor from a golden safetensors file.
at::Tensor golden_tensor(const std::filesystem::path& file, const std::string& name);
nlohmann::json read_json(const std::filesystem::path& file);

// [1, T] int64 tensor from ids.
at::Tensor row(const std::vector<std::int64_t>& ids);

}  // namespace qrun::test
