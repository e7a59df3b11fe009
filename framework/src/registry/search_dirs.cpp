// plugin_search_dirs (registry.hpp): where qrun looks for plugin libraries, in order.
#include "registry/registry.hpp"

#include <cstdlib>
#include <string_view>

namespace qrun {
namespace {

namespace fs = std::filesystem;

// True when `path` lies inside `folder` (both made absolute and normal).
bool is_inside(const fs::path& path, const fs::path& folder) {
  const fs::path rel = path.lexically_normal().lexically_relative(folder.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

fs::path running_executable() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

}  // namespace

std::vector<fs::path> plugin_search_dirs(const std::vector<fs::path>& extra) {
  std::vector<fs::path> dirs(extra.begin(), extra.end());
  if (const char* env = std::getenv("QRUN_PLUGIN_PATH"); env && *env) {
    std::string_view rest(env);
    while (true) {
      const auto colon = rest.find(':');
      const std::string_view item = rest.substr(0, colon);
      if (!item.empty()) dirs.emplace_back(std::string(item));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  const fs::path exe = running_executable();
  std::error_code ec;
  // The build tree's folder, only for programs of that build tree: an installed qrun must not
  // pick up (and clash with) the plugins of the tree it was installed from.
  // An installed program is recognised by its prefix's layout (<prefix>/lib/qrun/plugins or
  // <prefix>/include/qrun), which also holds when the prefix lies inside the build tree.
  const fs::path build_dir = QRUN_BUILD_PLUGIN_DIR;
  const fs::path prefix = exe.parent_path().parent_path();
  const bool installed = (fs::path(QRUN_INSTALL_PLUGIN_DIR).is_relative() && fs::exists(prefix / QRUN_INSTALL_PLUGIN_DIR, ec)) || fs::exists(prefix / "include/qrun", ec);
  if (!exe.empty() && !installed && is_inside(exe, build_dir.parent_path()) && fs::is_directory(build_dir, ec)) {
    dirs.push_back(build_dir);
  }
  // The install folder, relative to the executable: <prefix>/bin/qrun -> <prefix>/lib/qrun/plugins.
  const fs::path install_dir = QRUN_INSTALL_PLUGIN_DIR;
  if (install_dir.is_absolute()) {
    if (fs::is_directory(install_dir, ec)) dirs.push_back(install_dir);
  } else if (!exe.empty()) {
    const fs::path dir = (exe.parent_path().parent_path() / install_dir).lexically_normal();
    if (fs::is_directory(dir, ec)) dirs.push_back(dir);
  }
  return dirs;
}

}  // namespace qrun
