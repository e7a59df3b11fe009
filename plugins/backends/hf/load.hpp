// The "hf" backend's parameters and its load function (plugin entry in hf.cpp; tests call
// load_hf_model directly).
#pragma once

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <memory>
#include <string>

namespace qrun::hf {

struct HfParams {
  std::string path;              // model folder or hub id
  std::string dtype = "auto";    // float32 | bfloat16 | float16 | auto (config.json torch_dtype)
  std::string device = "auto";   // cpu | cuda | cuda:N | auto (the run's device)
};

Result<std::unique_ptr<Model>> load_hf_model(const HfParams& params, RunContext& ctx);

}  // namespace qrun::hf
