// One node, several devices: `qrun run EXP --devices cuda:0,cuda:1` starts one worker process per
// device, each `qrun run` of shard k/N of the same run folder with its device (runner/shard.hpp
// decides who computes what), waits for all of them, and then assembles the folder. Each worker's
// output goes to <run folder>/logs/worker-<k>.log. Internal.
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace qrun::runner {

struct WorkerSpec {
  std::string device;
  std::vector<std::string> argv;  // argv[0] is the executable
  std::filesystem::path log;
};

// Splits "cuda:0,cuda:1" into devices; Error naming `option` when empty.
Result<std::vector<std::string>> parse_devices(const std::string& text, const std::string& option = "--devices");

// Starts every worker at once and waits for all. Error naming each worker that failed (its
// device, exit status and log), after all have ended.
Result<void> run_workers(const std::vector<WorkerSpec>& workers);

// This executable (/proc/self/exe).
std::filesystem::path self_executable();

}  // namespace qrun::runner
