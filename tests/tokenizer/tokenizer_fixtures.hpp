// Shared fixtures of the tokenizer tests: the two fixture tokenizers (loaded once per process)
// and the golden token lists of ../shared/models/*/golden/tokens.json.
#pragma once

#include <qrun/tokenizer.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qrun::test {

// Qwen2.5's tokenizer (tiny-qwen2) and the SentencePiece-style stories260K tokenizer.
const Tokenizer& qwen_tokenizer();
const Tokenizer& stories_tokenizer();

struct GoldenTokens {
  std::string text;
  std::vector<std::int64_t> ids;
};
// The entries of <model>/golden/tokens.json (fails the test when it is missing).
std::vector<GoldenTokens> golden_tokens(const std::string& model);

// Writes `text` to <dir>/<name>.
void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

}  // namespace qrun::test
