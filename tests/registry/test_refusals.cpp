// Each refusal of Registry::load_library, in LLVM's order, with the file as Error::thing.
#include "registry/registry.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>

namespace {

const std::filesystem::path kDir = QRUN_TEST_PLUGIN_DIR;

std::filesystem::path lib(const std::string& id) { return kDir / ("libqrun_" + id + ".so"); }

qrun::Error refusal_of(const std::string& id) {
  qrun::Registry r;
  auto loaded = r.load_library(lib(id));
  REQUIRE_FALSE(loaded.ok());
  REQUIRE(r.refusals().size() == 1);
  CHECK(r.plugins().empty());
  CHECK(r.components().empty());
  CHECK(loaded.error().thing == lib(id).string());
  return loaded.error();
}

}  // namespace

TEST_CASE("a file that is not a shared library is refused with the loader's reason", "[registry][refusal]") {
  const auto dir = qrun::test::temp_dir("registry_garbage");
  const auto file = dir / "libqrun_garbage.so";
  std::ofstream out(file);
  for (int i = 0; i < 20; ++i) out << "this is not an ELF file\n";  // longer than an ELF header
  out.close();
  qrun::Registry r;
  auto loaded = r.load_library(file);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().thing == file.string());
  CHECK_THAT(loaded.error().reason, Catch::Equals("cannot be opened: invalid ELF header"));
  CHECK_FALSE(loaded.error().fix.empty());
}

TEST_CASE("a library with an unresolved symbol is refused when opened", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_unresolved");
  CHECK(e.reason == "cannot be opened: undefined symbol: qrun_test_symbol_nobody_defines");
}

TEST_CASE("a shared library without qrun_plugin_info is not a qrun plugin", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_plain");
  CHECK(e.reason == "not a qrun plugin (it exports no qrun_plugin_info)");
  CHECK_THAT(e.fix, Catch::Contains("QRUN_PLUGIN"));
}

TEST_CASE("a plugin built for another API version is refused with both versions", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_wrong_api");
  CHECK(e.reason == "built for plugin API " + std::to_string(QRUN_PLUGIN_API_VERSION + 1) + ", this qrun loads API " +
                        std::to_string(QRUN_PLUGIN_API_VERSION));
  CHECK(e.fix == "rebuild it against this qrun");
}

TEST_CASE("a plugin built against another torch is refused with both versions", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_wrong_torch");
  CHECK(e.reason == std::string("plugin 'test_wrong_torch' was built against torch 0.0.1, this qrun uses torch ") +
                        QRUN_TORCH_VERSION_STRING);
  CHECK(e.fix == "rebuild it against the torch this qrun uses");
}

TEST_CASE("a plugin without a registration callback is refused", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_no_callback");
  CHECK(e.reason == "plugin 'test_no_callback' has no register_factories callback");
}

TEST_CASE("a plugin whose registration throws is refused naming the plugin and the exception", "[registry][refusal]") {
  const qrun::Error e = refusal_of("test_throwing");
  CHECK(e.reason == "plugin 'test_throwing' threw while registering: registration fails on purpose");
  CHECK_THAT(e.fix, Catch::Contains("test_throwing"));
}

TEST_CASE("a component name registered twice is refused naming both libraries", "[registry][refusal]") {
  qrun::Registry r;
  REQUIRE(r.load_library(lib("test_good")).ok());
  auto twin = r.load_library(lib("test_twin"));
  REQUIRE_FALSE(twin.ok());
  CHECK(twin.error().thing == lib("test_twin").string());
  CHECK(twin.error().reason == "component 'test_noise' is already registered by " + lib("test_good").string());
  REQUIRE(r.plugins().size() == 1);
  CHECK(r.plugin_of("test_noise")->id == "test_good");  // the first keeps its component
}

TEST_CASE("the same library found in a second folder is refused as a second copy", "[registry][refusal]") {
  const auto dir = qrun::test::temp_dir("registry_copy");
  std::filesystem::copy_file(lib("test_good"), dir / "libqrun_test_good.so");
  qrun::Registry r;
  REQUIRE(r.load_library(lib("test_good")).ok());
  auto copy = r.load_library(dir / "libqrun_test_good.so");
  REQUIRE_FALSE(copy.ok());
  CHECK(copy.error().thing == (dir / "libqrun_test_good.so").string());
  CHECK_THAT(copy.error().reason, Catch::Contains(lib("test_good").string()));
}
