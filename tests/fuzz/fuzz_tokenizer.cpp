// libFuzzer harness: tokenizer.json loading (framework/src/tokenizer) then encode and decode.
// Input layout: the first line is text to encode; the rest is tokenizer.json (written to a folder
// in /dev/shm, as load_hf_tokenizer reads a model folder).
#include <qrun/tokenizer.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  static const std::filesystem::path dir = "/dev/shm/qrun_fuzz_tok_" + std::to_string(::getpid());
  static bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const std::string text = nl == std::string::npos ? std::string() : input.substr(0, nl);
  const std::string json = nl == std::string::npos ? input : input.substr(nl + 1);
  std::FILE* f = std::fopen((dir / "tokenizer.json").c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(json.data(), 1, json.size(), f);
  std::fclose(f);
  auto tok = qrun::load_hf_tokenizer(dir);
  if (!tok) {
    if (tok.error().reason.empty() || tok.error().message().size() > 4000) std::abort();
    return 0;
  }
  const auto ids = (*tok)->encode(text, true);
  (void)(*tok)->decode(ids, false);
  (void)(*tok)->decode(ids, true);
  // Fuzzed ids too: decode must refuse or skip unknown ids, never read out of bounds.
  std::vector<std::int64_t> wild;
  for (std::size_t i = 0; i + 4 <= text.size() && wild.size() < 16; i += 4)
    wild.push_back(static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<unsigned char>(text[i])) |
                                             static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + 1])) << 8 |
                                             static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + 2])) << 16 |
                                             static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + 3])) << 24));
  (void)(*tok)->decode(wild, false);
  return 0;
}
