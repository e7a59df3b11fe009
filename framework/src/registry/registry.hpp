// The plugin registry: loads plugin libraries (Boost.DLL), checks each in LLVM's order (opens;
// exports qrun_plugin_info; API version; torch version; non-null callback; registration does not
// throw; no duplicate component names), and owns every loaded library until exit.
#pragma once

#include <qrun/check.hpp>
#include <qrun/plugin.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

struct LoadedPlugin {
  std::filesystem::path path;
  std::string id;
  std::string version;
  std::string torch_version;
  std::vector<std::string> components;  // names this library registered
  std::vector<std::string> linear_kinds;  // linear kinds it registered (qrun/linear_kind.hpp)
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;

  // Loads every libqrun_*.so found in `dirs` (in order; a name already loaded from an earlier
  // folder is a duplicate). Each refused library is recorded with one Error; the rest load.
  static Registry load(const std::vector<std::filesystem::path>& dirs);
  // Loads one library file; returns the refusal, if any (also recorded in refusals()).
  Result<void> load_library(const std::filesystem::path& file);

  const std::vector<LoadedPlugin>& plugins() const;
  const std::vector<Error>& refusals() const;
  std::vector<const ComponentInfo*> components() const;  // sorted by kind, then name

  // The component named `name` of kind `kind`; the error lists what exists and the nearest name.
  Result<const ComponentInfo*> find(std::string_view name, Kind kind) const;
  const LoadedPlugin* plugin_of(std::string_view component) const;
  // The component's plan-time check (qrun/check.hpp), nullptr when its library exports none.
  ParamCheck check_of(std::string_view component) const;

  // Validate `params` against the component's schema (filling defaults), then call its factory.
  // Exceptions from the factory become Errors naming the plugin.
  Result<std::unique_ptr<Backend>> make_backend(std::string_view name, const ParamMap& params) const;
  Result<std::unique_ptr<Transform>> make_transform(std::string_view name, const ParamMap& params) const;
  Result<std::unique_ptr<Metric>> make_metric(std::string_view name, const ParamMap& params) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Plugin folders in search order: each --plugin-path, then every entry of env QRUN_PLUGIN_PATH
// (':'-separated), then the build tree's plugin folder (if it exists), then the install folder
// relative to the running executable (<prefix>/lib/qrun/plugins).
std::vector<std::filesystem::path> plugin_search_dirs(const std::vector<std::filesystem::path>& extra);

}  // namespace qrun
