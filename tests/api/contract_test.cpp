// The plugin contract is versioned: framework/include/API_CONTRACT records QRUN_PLUGIN_API_VERSION
// and a fingerprint of every public header (framework/scripts/api-hash.sh says how it is made).
// A header edited without bumping the version and re-recording fails here.
#include "support/assets.hpp"

#include <qrun/plugin.hpp>
#include <qrun/sha256.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string contract_fingerprint(const fs::path& include_dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(include_dir / "qrun")) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".hpp" || ext == ".h"))
      files.push_back(fs::relative(e.path(), include_dir).generic_string());
  }
  std::sort(files.begin(), files.end());  // byte order, as LC_ALL=C sort
  std::string listing;
  for (const auto& f : files) listing += f + "\n" + qrun::sha256_hex(read_file(include_dir / f)) + "\n";
  return qrun::sha256_hex(listing);
}

}  // namespace

TEST_CASE("the recorded plugin contract matches the public headers and the API version", "[api]") {
  const fs::path include_dir = qrun::test::source_dir() / "framework" / "include";
  std::istringstream record(read_file(include_dir / "API_CONTRACT"));
  std::string k1, k2, hash;
  unsigned version = 0;
  record >> k1 >> version >> k2 >> hash;
  REQUIRE(k1 == "api_version");
  REQUIRE(k2 == "sha256");
  INFO("a public header changed: bump QRUN_PLUGIN_API_VERSION in framework/include/qrun/plugin.hpp (say why in "
       "its history) and run `bash framework/scripts/api-hash.sh --write`");
  CHECK(version == QRUN_PLUGIN_API_VERSION);
  CHECK(hash == contract_fingerprint(include_dir));
}

TEST_CASE("the contract holds only the plugin API, not the numerics library", "[api]") {
  const fs::path qrun_dir = qrun::test::source_dir() / "framework" / "include" / "qrun";
  for (const char* moved : {"quant/blockwise4.hpp", "quant/quant_linear.hpp", "forensics", "eval_windows.hpp",
                            "wikitext.hpp", "stats.hpp", "kl_stats.hpp", "defense"}) {
    CAPTURE(moved);
    CHECK_FALSE(fs::exists(qrun_dir / moved));
  }
}
