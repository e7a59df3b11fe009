// Provenance: where the numbers came from (versions, commit, device, host, times).
#include "runner/provenance.hpp"

#include "common/version.hpp"
#include "registry/registry.hpp"

#include <torch/csrc/api/include/torch/version.h>
#ifdef QRUN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace qrun::runner {

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

namespace {
// stdout of a shell command, trailing newlines removed; nullopt when it fails.
std::optional<std::string> command_output(const std::string& cmd) {
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::array<char, 128> buf{};
  std::string out;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  if (::pclose(pipe) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}
}  // namespace

std::optional<std::string> git_commit() {
#ifdef QRUN_SOURCE_DIR
  const std::filesystem::path src = QRUN_SOURCE_DIR;
  std::error_code ec;
  if (!std::filesystem::exists(src / ".git", ec)) return std::nullopt;
  const std::string git = "git -C '" + src.string() + "' ";
  auto head = command_output(git + "rev-parse HEAD 2>/dev/null");
  if (!head || head->size() != 40) return std::nullopt;
  // As `git describe --dirty`: the sources differ from that commit (tracked files changed).
  auto changes = command_output(git + "status --porcelain --untracked-files=no 2>/dev/null");
  if (!changes || !changes->empty()) *head += "-dirty";
  return head;
#else
  return std::nullopt;
#endif
}

std::string device_name(c10::Device device) {
#ifdef QRUN_WITH_CUDA
  if (device.is_cuda()) {
    const auto* props = at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0);
    return props->name;
  }
#endif
  if (!device.is_cpu()) return device.str();
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return "cpu (" + line.substr(line.find_first_not_of(' ', colon + 1)) + ")";
    }
  }
  return "cpu";
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "";
  return buf.data();
}

nlohmann::json plugins_json(const Registry& registry) {
  nlohmann::json out = nlohmann::json::array();
  for (const LoadedPlugin& p : registry.plugins()) {
    out.push_back({{"id", p.id},
                   {"version", p.version},
                   {"path", p.path.string()},
                   {"torch_version", p.torch_version},
                   {"components", p.components}});
  }
  return out;
}

std::string torch_runtime_version() {
  // libtorch has no runtime version query in its C++ API; the build version is what the core
  // and every plugin were compiled against (the registry refuses plugins built for another).
  return std::string(torch_build_version());
}

}  // namespace qrun::runner
