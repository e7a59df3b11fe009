// libFuzzer harness: the safetensors header and layout checks (framework/src/safetensors/
// safetensors_header.cpp) on a whole fuzzed file image. Every input must give a value or an Error
// with a thing, a reason and a fix; errors must stay short (hostile names are clipped).
#include "safetensors/safetensors_header.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto h = qrun::parse_safetensors_header("fuzz.safetensors", data, size);
  if (!h) {
    const auto& e = h.error();
    if (e.thing.empty() || e.reason.empty() || e.fix.empty() || e.message().size() > 2000) std::abort();
    return 0;
  }
  // Invariants of an accepted header: entries sorted by name, inside the data section.
  const std::uint64_t data_size = size - h->data_offset;
  for (std::size_t i = 0; i < h->entries.size(); ++i) {
    const auto& e = h->entries[i];
    if (e.end < e.begin || e.end > data_size) std::abort();
    if (i > 0 && !(h->entries[i - 1].name < e.name)) std::abort();
  }
  return 0;
}
