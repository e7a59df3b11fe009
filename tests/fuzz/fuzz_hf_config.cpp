// libFuzzer harness: config.json (+ generation_config.json) of a Hugging Face checkpoint, read by
// the hf backend (plugins/backends/hf/hf_config.cpp, rope_config.cpp) into ModelConfig + Arch.
// Input layout: config.json, then optionally a NUL byte and generation_config.json. Both are
// written to a folder in /dev/shm, as read_config reads a model folder.
// Invariants beyond "no crash": an error has a reason and renders as one line of bounded length;
// an accepted config has positive sizes that are consistent (heads divide, head_dim set).
#include "hf_config.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

void write_file(const std::filesystem::path& p, const std::string& s) {
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(s.data(), 1, s.size(), f);
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  static const std::filesystem::path dir = "/dev/shm/qrun_fuzz_cfg_" + std::to_string(::getpid());
  static bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  write_file(dir / "config.json", input.substr(0, nul));
  std::filesystem::remove(dir / "generation_config.json");
  if (nul != std::string::npos) write_file(dir / "generation_config.json", input.substr(nul + 1));

  auto cfg = qrun::hf::read_config(dir);
  if (!cfg) {
    const std::string m = cfg.error().message();
    if (cfg.error().reason.empty() || m.size() > 4000 || m.find('\n') != std::string::npos) std::abort();
    return 0;
  }
  const qrun::ModelConfig& c = cfg->model;
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 ||
      c.num_key_value_heads <= 0 || c.head_dim <= 0 || c.intermediate_size <= 0)
    std::abort();
  if (c.num_attention_heads % c.num_key_value_heads != 0) std::abort();
  return 0;
}
