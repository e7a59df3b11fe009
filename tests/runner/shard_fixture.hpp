// Helpers for tests that run `qrun` as processes over run folders: sharded runs, merges, workers,
// resumption without --output (tests/runner/sharded_run.cpp, tests/slurm/).
#pragma once

#include "run_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace qrun::test {

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

// `qrun --plugin-path <test plugins> run EXP --set ...` (without --output: the folder comes from
// the overrides or from the run-folder lookup).
inline std::string qrun_run(const std::filesystem::path& toml, const std::vector<std::string>& overrides,
                            const std::string& extra = "", const std::string& env = "") {
  std::string cmd = env + " " + quoted(qrun_exe().string()) + " --plugin-path " + quoted(QRUN_TEST_PLUGIN_DIR) + " run " +
                    quoted(toml.string());
  for (const auto& o : overrides) cmd += " --set " + quoted(o);
  return cmd + " " + extra;
}

inline std::string qrun_cmd(const std::string& args) {
  return quoted(qrun_exe().string()) + " --plugin-path " + quoted(QRUN_TEST_PLUGIN_DIR) + " " + args;
}

// Every cell's stored form (values, details, method...) by variant and metric label; what must
// be identical whichever way the cells were computed.
inline nlohmann::json cell_values(const nlohmann::json& doc) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& v : doc["variants"]) out[v["name"].get<std::string>()] = v["metrics"];
  return out;
}

// The cell files of a run folder with their modification times.
inline std::map<std::string, std::filesystem::file_time_type> cell_files(const std::filesystem::path& run_dir) {
  std::map<std::string, std::filesystem::file_time_type> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run_dir / "cells", ec))
    if (e.path().extension() == ".json") out[e.path().filename().string()] = e.last_write_time();
  return out;
}

// Starts a shell command in the background; returns its pid.
inline long start_background(const std::string& command, const std::filesystem::path& log) {
  auto r = run_command("(" + command + ") > " + quoted(log.string()) + " 2>&1 & echo $!");
  REQUIRE(r.exit_code == 0);
  return std::stol(r.output);
}

inline bool process_alive(long pid) { return run_command("kill -0 " + std::to_string(pid)).exit_code == 0; }

// Waits until `ready()` or `seconds` pass; true when ready.
template <class F>
bool wait_for(F ready, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ready();
}

// The .running markers of a run folder (file paths).
inline std::vector<std::filesystem::path> running_markers(const std::filesystem::path& run_dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run_dir / "cells", ec))
    if (e.path().extension() == ".running") out.push_back(e.path());
  return out;
}

}  // namespace qrun::test
