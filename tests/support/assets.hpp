// Where tests find the shared assets (models, datasets) and the source/build trees.
// One setting: env QRUN_ASSETS, defaulting to the CMake cache value (../shared from the source).
// A missing asset FAILS the test with a message saying what is missing; it never skips.
#pragma once

#include <filesystem>
#include <string>

namespace qrun::test {

std::filesystem::path assets_root();
// assets_root()/relative; fails the current test (Catch2 FAIL) if it does not exist.
std::filesystem::path asset(const std::string& relative);
std::filesystem::path source_dir();   // the repository root
std::filesystem::path binary_dir();   // the CMake build folder
std::filesystem::path qrun_exe();     // <build>/bin/qrun
// A fresh, empty temporary folder for this test (under the build tree).
std::filesystem::path temp_dir(const std::string& name);

// Runs a shell command, returns {exit code, combined stdout+stderr}.
struct CommandResult { int exit_code; std::string output; };
CommandResult run_command(const std::string& command);

}  // namespace qrun::test
