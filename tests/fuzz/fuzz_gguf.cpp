// libFuzzer harness: the GGUF reader (plugins/quantizers/gguf/gguf_file.cpp). GgufFile::open
// takes a path, so each input is written to a file in /dev/shm first.
#include "gguf_file.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/dev/shm/qrun_fuzz_gguf_" + std::to_string(::getpid()) + ".gguf";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  auto g = qrun::gguf::GgufFile::open(path);
  if (!g) {
    const auto& e = g.error();
    if (e.thing.empty() || e.reason.empty() || e.message().size() > 4000) std::abort();
  }
  return 0;
}
