// libFuzzer harness: the TOML experiment loader and validator (framework/src/experiment:
// parse_experiment incl. --set overrides), then the plan and the resolved experiment's JSON.
// Input layout: the TOML text, then optionally a NUL byte and one --set text per line.
// Plugin names and parameter schemas come from the TEST-ONLY plugins (tests/runner/plugins),
// built by build.sh with the same sanitizers into OUT/plugins and loaded once.
// Invariants beyond "no crash": an error has a reason and renders as one line of bounded length.
#include "experiment/experiment.hpp"
#include "plan/plan.hpp"
#include "registry/registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

const qrun::Registry* g_registry = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* env = std::getenv("QRUN_FUZZ_PLUGIN_DIR");
  const std::filesystem::path dir =
      env ? std::filesystem::path(env) : std::filesystem::read_symlink("/proc/self/exe").parent_path() / "plugins";
  static qrun::Registry registry = qrun::Registry::load({dir});
  if (registry.plugins().empty() || !registry.refusals().empty()) {
    std::fprintf(stderr, "fuzz_experiment: no test plugins loaded from %s%s%s\n", dir.c_str(),
                 registry.refusals().empty() ? "" : ": ",
                 registry.refusals().empty() ? "" : registry.refusals()[0].message().c_str());
    std::abort();
  }
  g_registry = &registry;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 32 * 1024) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  qrun::LoadOptions options;
  options.started = std::chrono::system_clock::from_time_t(1795000000);
  if (nul != std::string::npos) {
    std::string rest = input.substr(nul + 1);
    std::size_t start = 0;
    while (start <= rest.size() && options.overrides.size() < 16) {
      const auto nl = rest.find('\n', start);
      options.overrides.push_back(rest.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  auto e = qrun::parse_experiment(input.substr(0, nul), "/dev/shm/qrun_fuzz_exp/x.toml", *g_registry, options);
  if (!e) {
    const std::string m = e.error().message();
    if (e.error().reason.empty() || m.size() > 4000 || m.find('\n') != std::string::npos) {
      std::fprintf(stderr, "bad error message (%zu bytes): %.300s\n", m.size(), m.c_str());
      std::abort();
    }
    return 0;
  }
  if (e->variants.empty() || e->baseline >= e->variants.size()) std::abort();
  const qrun::Plan plan = qrun::make_plan(*e, options.overrides);
  (void)qrun::describe_plan(plan, *g_registry);
  (void)qrun::to_json(*e).dump();
  return 0;
}
