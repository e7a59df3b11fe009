// Loading the refusal judge model through a backend plugin. A metric sees models only, so the
// judge's backend is found the way qrun found it: among the qrun plugin libraries already loaded
// in this process (every folder of --plugin-path, plugin_path and QRUN_PLUGIN_PATH), then in the
// folders of QRUN_PLUGIN_PATH. The backend's parameters are validated against its schema.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>
#include <qrun/params.hpp>

#include <memory>
#include <string>
#include <vector>

namespace qrun::behaviour {

// backend: the component name ("hf"); path: its "path" parameter; extra: "key=value" texts
// typed by the backend's schema (as --param).
Result<std::unique_ptr<Model>> load_judge_model(const std::string& backend, const std::string& path,
                                                const std::vector<std::string>& extra, RunContext& ctx);

}  // namespace qrun::behaviour
