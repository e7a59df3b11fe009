// [experiment] plugin_path: an experiment names its own plugin folders (relative to the file),
// and `qrun run` loads them before the plugin names are validated.
#include "experiment/experiment.hpp"
#include "support/assets.hpp"
#include "test_registry.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using qrun::test::test_registry;

namespace fs = std::filesystem;

namespace {

const std::string kBody = R"(
[model]
use = "test_backend"
hidden = 4

[[variants]]
name = "base"

[[variants]]
name = "quant"
transforms = [{use = "test_quant", step = 0.5}]

[[metrics]]
use = "test_weight_sum"
)";

// A folder holding exp.toml (with `plugin_line` under [experiment]) and an empty folder plugins/.
struct Folder {
  fs::path dir, toml;
  Folder(const std::string& name, const std::string& plugin_line) : dir(qrun::test::temp_dir(name)) {
    toml = dir / "exp.toml";
    fs::create_directories(dir / "plugins");
    write(plugin_line);
  }
  void write(const std::string& plugin_line) const {
    std::ofstream(toml) << "[experiment]\nname = \"pp\"\n" << plugin_line << "\n" << kBody;
  }
};

}  // namespace

TEST_CASE("plugin_path folders resolve against the experiment file's folder", "[experiment][plugin_path]") {
  Folder f("plugin_path_relative", R"(plugin_path = ["plugins", "/"])");
  auto e = qrun::load_experiment(f.toml, test_registry());
  REQUIRE(e.ok());
  CHECK(e->plugin_paths == std::vector<fs::path>{f.dir / "plugins", "/"});

  auto dirs = qrun::experiment_plugin_paths(f.toml);
  REQUIRE(dirs.ok());
  CHECK(*dirs == e->plugin_paths);
}

TEST_CASE("an experiment without plugin_path has no plugin folders of its own", "[experiment][plugin_path]") {
  Folder f("plugin_path_absent", "");
  auto dirs = qrun::experiment_plugin_paths(f.toml);
  REQUIRE(dirs.ok());
  CHECK(dirs->empty());
}

TEST_CASE("--set experiment.plugin_path replaces the file's folders", "[experiment][plugin_path]") {
  Folder f("plugin_path_set", R"(plugin_path = ["missing"])");
  qrun::LoadOptions options;
  options.overrides = {R"(experiment.plugin_path=["plugins"])"};
  auto dirs = qrun::experiment_plugin_paths(f.toml, options);
  REQUIRE(dirs.ok());
  CHECK(*dirs == std::vector<fs::path>{f.dir / "plugins"});
}

TEST_CASE("a plugin_path folder that does not exist is refused at its position", "[experiment][plugin_path][errors]") {
  Folder f("plugin_path_missing", R"(plugin_path = ["plugins", "nowhere"])");
  auto dirs = qrun::experiment_plugin_paths(f.toml);
  REQUIRE_FALSE(dirs.ok());
  CHECK(dirs.error().thing == f.toml.string() + ":3:27 experiment.plugin_path[1]");
  CHECK(dirs.error().reason == "'" + (f.dir / "nowhere").string() + "' is not a folder");
  CHECK_THAT(dirs.error().fix, Catch::Contains("relative to the experiment file"));

  auto e = qrun::load_experiment(f.toml, test_registry());
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == dirs.error().thing);
}

TEST_CASE("plugin_path must be an array of strings", "[experiment][plugin_path][errors]") {
  Folder text("plugin_path_string", R"(plugin_path = "plugins")");
  auto one = qrun::experiment_plugin_paths(text.toml);
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().thing == text.toml.string() + ":3:15 experiment.plugin_path");
  CHECK(one.error().reason == "is a string, expected an array of folders");

  Folder number("plugin_path_number", R"(plugin_path = [3])");
  auto two = qrun::experiment_plugin_paths(number.toml);
  REQUIRE_FALSE(two.ok());
  CHECK(two.error().thing == number.toml.string() + ":3:16 experiment.plugin_path[0]");
  CHECK(two.error().reason == "is an integer, expected a string");
}

TEST_CASE("an unknown plugin name points at plugin_path and --plugin-path", "[experiment][plugin_path][errors]") {
  Folder f("plugin_path_unknown", "");
  std::ofstream(f.toml, std::ios::app) << "\n[[variants]]\nname = \"rtn\"\ntransforms = [{use = \"test_quant2\"}]\n";
  auto e = qrun::load_experiment(f.toml, test_registry());
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().reason == "no transform plugin named 'test_quant2'");
  CHECK_THAT(e.error().fix, Catch::Contains("[experiment] plugin_path") && Catch::Contains("--plugin-path DIR"));
}

TEST_CASE("qrun run loads the experiment's plugin_path before validating plugin names", "[experiment][plugin_path][cli]") {
  // The test plugins live in no default folder: without plugin_path, test_backend is unknown.
  Folder with("plugin_path_cli", "");
  const std::string relative = fs::relative(QRUN_TEST_PLUGIN_DIR, with.dir).string();
  REQUIRE(relative.rfind("..", 0) == 0);  // really relative to the experiment's folder
  with.write("plugin_path = [\"" + relative + "\"]");
  Folder without("plugin_path_cli_without", "");
  const std::string qrun = "'" + qrun::test::qrun_exe().string() + "' run --dry-run ";

  auto ok = qrun::test::run_command(qrun + "'" + with.toml.string() + "'");
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("quantizer test_quant") && Catch::Contains("valid; nothing was run"));

  auto refused = qrun::test::run_command(qrun + "'" + without.toml.string() + "'");
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output, Catch::Contains("no backend plugin named 'test_backend'"));
}
