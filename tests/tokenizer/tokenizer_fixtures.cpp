#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <sstream>

namespace qrun::test {
namespace {

const Tokenizer& load_once(std::unique_ptr<Tokenizer>& slot, const std::string& model) {
  if (!slot) {
    auto t = load_hf_tokenizer(asset("models/" + model + "/tokenizer.json").parent_path());
    if (!t.ok()) FAIL("loading " << model << ": " << t.error().message());
    slot = std::move(*t);
  }
  return *slot;
}

}  // namespace

const Tokenizer& qwen_tokenizer() {
  static std::unique_ptr<Tokenizer> t;
  return load_once(t, "tiny-qwen2");
}

const Tokenizer& stories_tokenizer() {
  static std::unique_ptr<Tokenizer> t;
  return load_once(t, "stories260K");
}

std::vector<GoldenTokens> golden_tokens(const std::string& model) {
  const auto doc = nlohmann::json::parse(read_file(asset("models/" + model + "/golden/tokens.json")));
  std::vector<GoldenTokens> out;
  for (const auto& e : doc) out.push_back({e.at("text").get<std::string>(), e.at("ids").get<std::vector<std::int64_t>>()});
  REQUIRE(!out.empty());
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace qrun::test
