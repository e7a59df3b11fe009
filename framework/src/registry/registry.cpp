// The plugin registry (registry.hpp): opens plugin libraries with Boost.DLL, checks each in
// LLVM's order (PassPlugin::Load), records one Error per refused library, and owns every opened
// library until it is destroyed, after the components (whose factories live in those libraries).
#include "registry/registry.hpp"

#include "model/linear_kinds_registry.hpp"

#include <qrun/check.hpp>

#include <boost/dll/shared_library.hpp>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <variant>

namespace qrun {
namespace {

constexpr const char* kEntryPoint = "qrun_plugin_info";

using AnyFactory = std::variant<BackendFactory, TransformFactory, MetricFactory>;

struct Entry {
  ComponentInfo info;
  AnyFactory factory;
  std::size_t plugin = 0;  // index into Impl::plugins
};

// Collects what one library registers, so a refused library adds nothing.
class StagingRegistrar final : public Registrar {
 public:
  void add_backend(ComponentInfo info, BackendFactory factory) override {
    add(std::move(info), Kind::backend, std::move(factory));
  }
  void add_transform(ComponentInfo info, TransformFactory factory) override {
    add(std::move(info), Kind::transform, std::move(factory));
  }
  void add_metric(ComponentInfo info, MetricFactory factory) override {
    add(std::move(info), Kind::metric, std::move(factory));
  }
  void add_linear_kind(LinearKindInfo info) override { kinds.push_back(std::move(info)); }
  std::vector<Entry> entries;
  std::vector<LinearKindInfo> kinds;  // registered globally once the library is accepted

 private:
  void add(ComponentInfo info, Kind kind, AnyFactory factory) {
    info.kind = kind;  // the method called decides the kind, whatever the info says
    entries.push_back(Entry{std::move(info), std::move(factory), 0});
  }
};

// Boost.DLL reports "...load() failed (dlerror system message: <reason>): <errc text>"; keep <reason>.
// The file name that dlerror() puts in front is dropped: the Error's thing already names the file.
std::string open_failure_reason(const std::string& what, const std::string& file) {
  const std::string marker = "dlerror system message: ";
  const auto begin = what.find(marker);
  if (begin == std::string::npos) return what;
  const auto start = begin + marker.size();
  const auto end = what.rfind(')');
  std::string reason = what.substr(start, end == std::string::npos || end < start ? std::string::npos : end - start);
  if (reason.compare(0, file.size() + 2, file + ": ") == 0) reason.erase(0, file.size() + 2);
  return reason;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool is_plugin_file_name(const std::string& name) {
  const std::string prefix = "libqrun_", suffix = ".so";
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && name != "libqrun_core.so";
}

}  // namespace

struct Registry::Impl {
  // Declaration order is destruction order reversed: components (factories whose code lives in
  // the libraries) go first, the libraries last.
  std::vector<boost::dll::shared_library> libraries;  // every library opened, refused ones too
  std::vector<LoadedPlugin> plugins;
  std::vector<Error> refusals;
  std::map<std::string, Entry, std::less<>> components;
  std::map<std::string, ParamCheck, std::less<>> checks;  // plan-time checks (qrun/check.hpp) by component

  Result<void> refuse(Error e) {
    refusals.push_back(e);
    return e;
  }

  template <class Product, class Factory>
  Result<std::unique_ptr<Product>> make(const Registry& self, std::string_view name, Kind kind,
                                        const ParamMap& params) const {
    auto found = self.find(name, kind);
    if (!found) return found.error();
    const Entry& entry = components.find(name)->second;
    const std::string id(name);
    auto validated = validate_params(entry.info.schema, params);
    if (!validated) return validated.error().within(id, ".");
    const std::string where = plugins[entry.plugin].path.string();
    try {
      Result<std::unique_ptr<Product>> made = std::get<Factory>(entry.factory)(*validated);
      if (!made) return made.error().within(id, ": ");
      if (!*made) return Error{id, "its factory returned no object", "report this bug in " + where, ErrorCode::internal};
      return made;
    } catch (const ErrorException& e) {
      return e.error().within(id, ": ");
    } catch (const c10::Error& e) {
      return Error{id, std::string("could not be created: ") + e.what_without_backtrace(),
                   "check its parameters; if they are right, this is a bug in " + where, ErrorCode::internal};
    } catch (const std::exception& e) {
      return Error{id, std::string("could not be created: ") + e.what(),
                   "check its parameters; if they are right, this is a bug in " + where, ErrorCode::internal};
    }
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;

Registry Registry::load(const std::vector<std::filesystem::path>& dirs) {
  namespace fs = std::filesystem;
  Registry registry;
  std::vector<fs::path> seen;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(dir, ec);
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;
    seen.push_back(canonical);
    if (!fs::is_directory(dir, ec)) {
      const bool exists = fs::exists(dir, ec);
      (void)registry.impl_->refuse(Error{dir.string(), exists ? "is not a folder" : "plugin folder does not exist",
                                         "check --plugin-path and QRUN_PLUGIN_PATH",
                                         exists ? ErrorCode::invalid_argument : ErrorCode::not_found});
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(dir, ec)) {
      if (item.is_regular_file(ec) && is_plugin_file_name(item.path().filename().string())) files.push_back(item.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) (void)registry.load_library(file);
  }
  return registry;
}

Result<void> Registry::load_library(const std::filesystem::path& file) {
  Impl& impl = *impl_;
  const std::string thing = file.string();

  // A second copy of a library already loaded from an earlier folder.
  for (const LoadedPlugin& p : impl.plugins) {
    if (p.path.filename() == file.filename()) {
      return impl.refuse(Error{thing, "is a second copy of " + file.filename().string() + ", already loaded from " +
                                          p.path.string(),
                               "remove one of the two, or drop one plugin folder"});
    }
  }

  // 1. The library opens (RTLD_NOW: an unresolved symbol is a refusal now, not a crash later).
  boost::dll::shared_library library;
  try {
    library.load(boost::dll::fs::path(thing),
                 boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const boost::dll::fs::system_error& e) {
    return impl.refuse(Error{thing, "cannot be opened: " + open_failure_reason(e.what(), thing),
                             "rebuild it against this qrun and the libraries it needs, or remove it from the plugin folder",
                             ErrorCode::unsupported});
  }

  // 2. It exports the entry point.
  if (!library.has(kEntryPoint)) {
    impl.libraries.push_back(std::move(library));
    return impl.refuse(Error{thing, "not a qrun plugin (it exports no qrun_plugin_info)",
                             "build it with qrun_add_plugin() and QRUN_PLUGIN(...), or remove it from the plugin folder"});
  }
  const qrun_plugin_info* info = library.get_alias<const qrun_plugin_info*()>(kEntryPoint)();
  impl.libraries.push_back(std::move(library));  // kept open until the registry dies, whatever follows
  if (!info) {
    return impl.refuse(Error{thing, "qrun_plugin_info returned no information", "define the plugin with QRUN_PLUGIN(...)"});
  }

  // 3. The API version, the only field read before it is known to match.
  if (info->api_version != QRUN_PLUGIN_API_VERSION) {
    return impl.refuse(Error{thing,
                             "built for plugin API " + std::to_string(info->api_version) + ", this qrun loads API " +
                                 std::to_string(QRUN_PLUGIN_API_VERSION),
                             "rebuild it against this qrun", ErrorCode::unsupported});
  }
  const std::string id = info->id ? info->id : "";
  if (id.empty()) return impl.refuse(Error{thing, "declares no plugin id", "define the plugin with QRUN_PLUGIN(\"<id>\", ...)"});

  // 4. The torch it was built against (C++ ABI of tensors passed across the boundary).
  const std::string host_torch = QRUN_TORCH_VERSION_STRING;
  const std::string plugin_torch = info->torch_version ? info->torch_version : "";
  if (plugin_torch != host_torch) {
    return impl.refuse(Error{thing,
                             "plugin '" + id + "' was built against torch " +
                                 (plugin_torch.empty() ? std::string("(unknown)") : plugin_torch) +
                                 ", this qrun uses torch " + host_torch,
                             "rebuild it against the torch this qrun uses", ErrorCode::unsupported});
  }

  // 5. The registration callback exists.
  if (!info->register_factories) {
    return impl.refuse(Error{thing, "plugin '" + id + "' has no register_factories callback",
                             "define the plugin with QRUN_PLUGIN(...)"});
  }
  for (const LoadedPlugin& p : impl.plugins) {
    if (p.id == id) {
      return impl.refuse(Error{thing, "plugin id '" + id + "' is already loaded from " + p.path.string(),
                               "remove one of the two libraries"});
    }
  }

  // 6. Registration runs without throwing.
  StagingRegistrar staging;
  const std::string fix_registration = "fix the registration code of plugin '" + id + "', or remove the library";
  try {
    info->register_factories(staging);
  } catch (const c10::Error& e) {
    return impl.refuse(Error{thing, "plugin '" + id + "' threw while registering: " + e.what_without_backtrace(),
                             fix_registration, ErrorCode::internal});
  } catch (const std::exception& e) {
    return impl.refuse(Error{thing, "plugin '" + id + "' threw while registering: " + e.what(), fix_registration,
                             ErrorCode::internal});
  } catch (...) {
    return impl.refuse(Error{thing, "plugin '" + id + "' threw a non-standard exception while registering",
                             fix_registration, ErrorCode::internal});
  }

  // 7. Component names are non-empty and unique, within the library and across libraries.
  std::vector<std::string> names;
  for (const Entry& e : staging.entries) {
    const std::string& name = e.info.name;
    if (name.empty()) {
      return impl.refuse(Error{thing, "plugin '" + id + "' registers a component without a name", fix_registration});
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return impl.refuse(Error{thing, "plugin '" + id + "' registers the component '" + name + "' twice",
                               "give each component its own name"});
    }
    if (auto it = impl.components.find(name); it != impl.components.end()) {
      return impl.refuse(Error{thing,
                               "component '" + name + "' is already registered by " +
                                   impl.plugins[it->second.plugin].path.string(),
                               "remove one of the two libraries, or rename one component"});
    }
    names.push_back(name);
  }

  // 8. Linear kinds: unique names across libraries (the process-wide kind registry checks).
  auto keepalive = std::make_shared<boost::dll::shared_library>(impl.libraries.back());
  std::vector<std::string> kind_names;
  for (LinearKindInfo& k : staging.kinds) {
    const std::string kind = k.name;
    if (auto r = register_linear_kind(std::move(k), thing, keepalive); !r) return impl.refuse(r.error());
    kind_names.push_back(kind);
  }

  const std::size_t index = impl.plugins.size();
  impl.plugins.push_back(LoadedPlugin{file, id, info->version ? info->version : "", plugin_torch, names, kind_names});
  for (Entry& e : staging.entries) {
    e.plugin = index;
    std::string name = e.info.name;
    impl.components.emplace(std::move(name), std::move(e));
  }
  // 9. Optional plan-time checks (qrun/check.hpp), for this library's own components only.
  if (impl.libraries.back().has("qrun_plugin_checks")) {
    const qrun_plugin_checks* table = impl.libraries.back().get_alias<const qrun_plugin_checks*()>("qrun_plugin_checks")();
    if (table && table->api_version == QRUN_PLUGIN_CHECKS_VERSION) {
      for (std::size_t i = 0; i < table->count; ++i) {
        const ParamCheckEntry& c = table->entries[i];
        if (c.component && c.check && std::find(names.begin(), names.end(), c.component) != names.end())
          impl.checks[c.component] = c.check;
      }
    }
  }
  return {};
}

ParamCheck Registry::check_of(std::string_view component) const {
  auto it = impl_->checks.find(component);
  return it == impl_->checks.end() ? nullptr : it->second;
}

const std::vector<LoadedPlugin>& Registry::plugins() const { return impl_->plugins; }
const std::vector<Error>& Registry::refusals() const { return impl_->refusals; }

std::vector<const ComponentInfo*> Registry::components() const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [name, entry] : impl_->components) out.push_back(&entry.info);
  std::stable_sort(out.begin(), out.end(), [](const ComponentInfo* a, const ComponentInfo* b) {
    return a->kind < b->kind;  // names are already in order (the map is sorted)
  });
  return out;
}

Result<const ComponentInfo*> Registry::find(std::string_view name, Kind kind) const {
  const std::string wanted(to_string(kind));
  auto it = impl_->components.find(name);
  if (it != impl_->components.end() && it->second.info.kind == kind) return &it->second.info;

  std::vector<std::string> same_kind;
  for (const auto& [n, entry] : impl_->components) {
    if (entry.info.kind == kind) same_kind.push_back(n);
  }
  const std::string available = same_kind.empty() ? "no " + wanted + " is loaded" : wanted + "s: " + join(same_kind);
  const std::string refused = impl_->refusals.empty()
                                  ? ""
                                  : " (" + std::to_string(impl_->refusals.size()) +
                                        " plugin libraries were refused; see the warnings)";
  if (it != impl_->components.end()) {
    return Error{std::string(name), "is a " + std::string(to_string(it->second.info.kind)) + ", not a " + wanted,
                 "use a " + wanted + " here; " + available};
  }
  std::string fix;
  if (auto near = nearest_name(std::string(name), same_kind)) fix = "did you mean '" + *near + "'? ";
  fix += same_kind.empty() ? "build the plugins, or" : available + "; for a plugin in another folder,";
  fix += " load its folder with --plugin-path DIR or QRUN_PLUGIN_PATH=DIR (an experiment: [experiment] "
         "plugin_path = [\"DIR\"]); `qrun plugins` lists what is loaded";
  return Error{std::string(name), "unknown " + wanted + refused, fix, ErrorCode::not_found};
}

const LoadedPlugin* Registry::plugin_of(std::string_view component) const {
  auto it = impl_->components.find(component);
  return it == impl_->components.end() ? nullptr : &impl_->plugins[it->second.plugin];
}

Result<std::unique_ptr<Backend>> Registry::make_backend(std::string_view name, const ParamMap& params) const {
  return impl_->make<Backend, BackendFactory>(*this, name, Kind::backend, params);
}
Result<std::unique_ptr<Transform>> Registry::make_transform(std::string_view name, const ParamMap& params) const {
  return impl_->make<Transform, TransformFactory>(*this, name, Kind::transform, params);
}
Result<std::unique_ptr<Metric>> Registry::make_metric(std::string_view name, const ParamMap& params) const {
  return impl_->make<Metric, MetricFactory>(*this, name, Kind::metric, params);
}

}  // namespace qrun
