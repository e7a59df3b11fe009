// Registry: discovery, lookup and component creation, with the TEST-ONLY plugins of
// tests/registry/plugins (built into QRUN_TEST_PLUGIN_DIR, never installed).
#include "registry/registry.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace {

const std::filesystem::path kDir = QRUN_TEST_PLUGIN_DIR;

// Shared by the tests of this file: loading is the expensive part.
const qrun::Registry& registry() {
  static const qrun::Registry r = qrun::Registry::load({kDir});
  return r;
}

}  // namespace

TEST_CASE("loading the test folder keeps the good plugin and refuses each broken library", "[registry]") {
  const auto& r = registry();
  REQUIRE(r.plugins().size() == 1);
  const qrun::LoadedPlugin& p = r.plugins().front();
  CHECK(p.id == "test_good");
  CHECK(p.version == "1.2.3");
  CHECK(p.path == kDir / "libqrun_test_good.so");
  CHECK(p.components == std::vector<std::string>{"test_noise", "test_constant", "test_null_backend", "test_explode"});
  // test_twin, test_wrong_api, test_wrong_torch, test_no_callback, test_throwing, test_plain, test_unresolved
  CHECK(r.refusals().size() == 7);
}

TEST_CASE("components are listed by kind, then by name", "[registry]") {
  std::vector<std::string> names;
  for (const qrun::ComponentInfo* c : registry().components()) names.push_back(c->name);
  CHECK(names == std::vector<std::string>{"test_null_backend", "test_explode", "test_noise", "test_constant"});
}

TEST_CASE("a component keeps its schema, role and owning plugin", "[registry]") {
  auto found = registry().find("test_noise", qrun::Kind::transform);
  REQUIRE(found.ok());
  const qrun::ComponentInfo& info = **found;
  CHECK(info.role == qrun::Role::defense);
  CHECK(info.description == "Adds test noise.");
  REQUIRE(info.schema.fields.size() == 2);
  CHECK(info.schema.fields[0].name == "sigma");
  CHECK(info.schema.fields[0].unit == "×RMS");
  REQUIRE(registry().plugin_of("test_noise") != nullptr);
  CHECK(registry().plugin_of("test_noise")->id == "test_good");
  CHECK(registry().plugin_of("nothing") == nullptr);
}

TEST_CASE("an unknown component name gets the nearest name and the list of that kind", "[registry]") {
  auto found = registry().find("test_nois", qrun::Kind::transform);
  REQUIRE_FALSE(found.ok());
  CHECK(found.error().thing == "test_nois");
  CHECK_THAT(found.error().reason, Catch::StartsWith("unknown transform"));
  CHECK_THAT(found.error().fix, Catch::StartsWith("did you mean 'test_noise'? transforms: test_explode, test_noise;"));
  // The plugin may live in a folder qrun was not told about: the fix names the three ways to add one.
  CHECK_THAT(found.error().fix, Catch::Contains("--plugin-path DIR") && Catch::Contains("QRUN_PLUGIN_PATH=DIR") &&
                                    Catch::Contains("plugin_path"));
}

TEST_CASE("an unknown name with no plugin of its kind loaded says how to load a plugin folder", "[registry]") {
  const qrun::Registry empty;
  auto found = empty.find("rtn", qrun::Kind::transform);
  REQUIRE_FALSE(found.ok());
  CHECK(found.error().reason == "unknown transform");
  CHECK_THAT(found.error().fix, Catch::StartsWith("build the plugins, or load its folder with --plugin-path DIR"));
  CHECK_THAT(found.error().fix, Catch::Contains("QRUN_PLUGIN_PATH=DIR"));
}

TEST_CASE("a component of another kind is refused saying what it is", "[registry]") {
  auto found = registry().find("test_constant", qrun::Kind::transform);
  REQUIRE_FALSE(found.ok());
  CHECK(found.error().thing == "test_constant");
  CHECK(found.error().reason == "is a metric, not a transform");
}

TEST_CASE("a component is made with validated parameters and defaults", "[registry]") {
  auto metric = registry().make_metric("test_constant", {{"value", std::int64_t{3}}});
  REQUIRE(metric.ok());
  auto ctx = qrun::make_default_context(0, c10::Device("cpu"));
  auto results = (*metric)->evaluate(qrun::MetricInputs{}, *ctx);
  REQUIRE(results.ok());
  REQUIRE(results->size() == 1);
  REQUIRE(results->front().values.size() == 1);
  CHECK(results->front().values[0].name == "constant");
  CHECK(results->front().values[0].value == 3.0);
}

TEST_CASE("making a component with a bad parameter names the component and the parameter", "[registry]") {
  auto t = registry().make_transform("test_noise", {{"sigam", 0.1}});
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().thing == "test_noise.sigam");
  CHECK_THAT(t.error().fix, Catch::StartsWith("did you mean 'sigma'?"));
}

TEST_CASE("an exception from a factory becomes an error naming the component", "[registry]") {
  auto t = registry().make_transform("test_explode", {});
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().thing == "test_explode");
  CHECK(t.error().reason == "could not be created: the factory exploded on purpose");
  CHECK_THAT(t.error().fix, Catch::Contains("libqrun_test_good.so"));
}

TEST_CASE("an error returned by a factory is prefixed with the component name", "[registry]") {
  auto t = registry().make_transform("test_explode", {{"explode", false}});
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().thing == "test_explode: explode");
  CHECK(t.error().reason == "is false");
}

TEST_CASE("plugin folders are searched in order: --plugin-path, QRUN_PLUGIN_PATH, defaults", "[registry]") {
  const char* old = std::getenv("QRUN_PLUGIN_PATH");
  const std::string saved = old ? old : "";
  ::setenv("QRUN_PLUGIN_PATH", "/env/a::/env/b", 1);
  auto dirs = qrun::plugin_search_dirs({"/cli/x", "/cli/y"});
  if (old) ::setenv("QRUN_PLUGIN_PATH", saved.c_str(), 1);
  else ::unsetenv("QRUN_PLUGIN_PATH");
  REQUIRE(dirs.size() >= 4);
  CHECK(dirs[0] == "/cli/x");
  CHECK(dirs[1] == "/cli/y");
  CHECK(dirs[2] == "/env/a");
  CHECK(dirs[3] == "/env/b");
}

TEST_CASE("a plugin folder that does not exist is one refusal naming it", "[registry]") {
  auto r = qrun::Registry::load({"/nonexistent/qrun-plugins"});
  CHECK(r.plugins().empty());
  REQUIRE(r.refusals().size() == 1);
  CHECK(r.refusals()[0].thing == "/nonexistent/qrun-plugins");
  CHECK(r.refusals()[0].reason == "plugin folder does not exist");
}
