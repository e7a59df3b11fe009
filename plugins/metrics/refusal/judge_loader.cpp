// Finding a backend plugin and loading the judge model with it (judge_loader.hpp).
#include "judge_loader.hpp"

#include <qrun/plugin.hpp>

#include <boost/dll/shared_library.hpp>
#include <link.h>

#include <cstdlib>
#include <filesystem>
#include <set>

namespace qrun::behaviour {

namespace {

namespace fs = std::filesystem;

// Collects the one backend it is asked for; ignores every other component.
class BackendFinder : public Registrar {
 public:
  explicit BackendFinder(std::string name) : name_(std::move(name)) {}
  void add_backend(ComponentInfo info, BackendFactory factory) override {
    if (info.name == name_ && !factory_) {
      info_ = std::move(info);
      factory_ = std::move(factory);
    }
  }
  void add_transform(ComponentInfo, TransformFactory) override {}
  void add_metric(ComponentInfo, MetricFactory) override {}
  void add_linear_kind(LinearKindInfo) override {}
  bool found() const { return static_cast<bool>(factory_); }
  const ComponentInfo& info() const { return info_; }
  const BackendFactory& factory() const { return factory_; }

 private:
  std::string name_;
  ComponentInfo info_;
  BackendFactory factory_;
};

bool is_plugin_file(const fs::path& p) {
  const std::string f = p.filename().string();
  return f.rfind("libqrun_", 0) == 0 && p.extension() == ".so";
}

// qrun plugin libraries mapped into this process.
std::vector<fs::path> loaded_plugin_files() {
  std::vector<fs::path> out;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        if (info->dlpi_name && *info->dlpi_name && is_plugin_file(info->dlpi_name))
          static_cast<std::vector<fs::path>*>(data)->push_back(info->dlpi_name);
        return 0;
      },
      &out);
  return out;
}

std::vector<fs::path> env_plugin_files() {
  std::vector<fs::path> out;
  const char* env = std::getenv("QRUN_PLUGIN_PATH");
  if (!env) return out;
  std::string rest(env);
  std::size_t from = 0;
  while (from <= rest.size()) {
    const std::size_t to = std::min(rest.find(':', from), rest.size());
    const fs::path dir = rest.substr(from, to - from);
    std::error_code ec;
    if (!dir.empty() && fs::is_directory(dir, ec))
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (is_plugin_file(e.path())) out.push_back(e.path());
    from = to + 1;
  }
  return out;
}

// Asks one library for the backend; false when it is not a loadable qrun plugin of this API.
bool offer(const fs::path& file, BackendFinder& finder, std::vector<boost::dll::shared_library>& keep) {
  boost::dll::shared_library lib;
  try {
    lib.load(boost::dll::fs::path(file.string()), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception&) {
    return false;
  }
  if (!lib.has("qrun_plugin_info")) return false;
  const qrun_plugin_info* info = lib.get_alias<const qrun_plugin_info*()>("qrun_plugin_info")();
  if (!info || info->api_version != QRUN_PLUGIN_API_VERSION || !info->register_factories) return false;
  if (std::string(info->torch_version ? info->torch_version : "") != QRUN_TORCH_VERSION_STRING) return false;
  info->register_factories(finder);
  keep.push_back(std::move(lib));  // the library stays open while the process runs
  return finder.found();
}

}  // namespace

Result<std::unique_ptr<Model>> load_judge_model(const std::string& backend, const std::string& path,
                                                const std::vector<std::string>& extra, RunContext& ctx) {
  static std::vector<boost::dll::shared_library> keep;  // judge backends' libraries, open until exit
  BackendFinder finder(backend);
  std::set<std::string> tried;
  for (const auto& files : {loaded_plugin_files(), env_plugin_files()})
    for (const fs::path& f : files) {
      if (finder.found()) break;
      if (tried.insert(fs::weakly_canonical(f).string()).second) offer(f, finder, keep);
    }
  if (!finder.found())
    return Error::of(ErrorCode::not_found, "refusal.judge_backend", "no loaded plugin and no library in QRUN_PLUGIN_PATH provides the backend \"" + backend + "\"",
                     "use judge_backend = \"hf\" or add the backend's folder to QRUN_PLUGIN_PATH");
  ParamMap given{{"path", path}};
  for (const std::string& kv : extra) {
    auto p = parse_param_assignment(finder.info().schema, kv);
    if (!p) return p.error().within("refusal.judge_backend_params:");
    given[p->first] = p->second;
  }
  auto params = validate_params(finder.info().schema, given);
  if (!params) return params.error().within("refusal judge backend " + backend + ":");
  auto b = finder.factory()(*params);
  if (!b) return b.error().within("refusal judge backend " + backend + ":");
  auto model = (*b)->load(ctx);
  if (!model) return model.error().within("refusal judge model " + path + ":");
  return std::move(*model);
}

}  // namespace qrun::behaviour
