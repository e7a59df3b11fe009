// Provenance facts for results.json: versions, source commit, device, host, times. Internal.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace qrun {
class Registry;
}

namespace qrun::runner {

// "2026-11-26T20:13:00Z"
std::string utc_timestamp(std::chrono::system_clock::time_point t);
// `git rev-parse HEAD` in the source tree qrun was built from, when that is still a git checkout;
// "<sha>-dirty" when tracked files differ from that commit (as `git describe --dirty`).
std::optional<std::string> git_commit();
// "cpu (<model name from /proc/cpuinfo>)" or the CUDA device's name.
std::string device_name(c10::Device device);
std::string host_name();
// [{"id", "version", "path", "torch_version", "components": [...]}] for every loaded library.
nlohmann::json plugins_json(const Registry& registry);
// The runtime libtorch version ("1.13.0"), falling back to the build version.
std::string torch_runtime_version();

}  // namespace qrun::runner
