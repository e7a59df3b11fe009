#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>

namespace qrun::test {

std::filesystem::path assets_root() {
  if (const char* env = std::getenv("QRUN_ASSETS"); env && *env) return env;
  return QRUN_DEFAULT_ASSETS;
}

std::filesystem::path asset(const std::string& relative) {
  auto p = assets_root() / relative;
  if (!std::filesystem::exists(p)) {
    FAIL("MISSING TEST ASSET: " << p.string()
         << " (set QRUN_ASSETS to the folder holding models/ and datasets/, default ../shared)");
  }
  return p;
}

std::filesystem::path source_dir() { return QRUN_TEST_SOURCE_DIR; }
std::filesystem::path binary_dir() { return QRUN_TEST_BINARY_DIR; }
std::filesystem::path qrun_exe() { return binary_dir() / "bin" / "qrun"; }

std::filesystem::path temp_dir(const std::string& name) {
  auto p = binary_dir() / "test-tmp" / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

CommandResult run_command(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {code, out};
}

}  // namespace qrun::test
