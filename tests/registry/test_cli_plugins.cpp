// `qrun plugins`: lists what loaded (--json, text, --markdown, NAME) and prints one warning line
// per refused library.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace {

const std::string kDir = QRUN_TEST_PLUGIN_DIR;

struct Run {
  int exit_code;
  std::string out, err;
};

// Runs qrun with separate stdout and stderr.
Run qrun_cli(const std::string& args, const std::string& name) {
  const auto dir = qrun::test::temp_dir(name);
  const auto err = dir / "stderr.txt";
  auto r = qrun::test::run_command("(" + qrun::test::qrun_exe().string() + " " + args + " 2>" + err.string() + ")");
  std::ifstream in(err);
  std::stringstream text;
  text << in.rdbuf();
  return {r.exit_code, r.output, text.str()};
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("qrun plugins --json lists the good test plugin found through --plugin-path", "[cli][registry]") {
  auto r = qrun_cli("plugins --json --plugin-path " + kDir, "cli_plugins_json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  const nlohmann::json* noise = nullptr;
  for (const auto& c : j.at("components")) {
    if (c.at("name") == "test_noise") noise = &c;
  }
  REQUIRE(noise != nullptr);
  CHECK(noise->at("kind") == "transform");
  CHECK(noise->at("role") == "defense");
  CHECK(noise->at("plugin").at("version") == "1.2.3");
  CHECK(noise->at("plugin").at("path") == kDir + "/libqrun_test_good.so");
  CHECK(noise->at("parameters").at(0).at("name") == "sigma");
  CHECK(noise->at("parameters").at(0).at("default") == 0.01);
  CHECK(noise->at("parameters").at(0).at("max") == 1.0);
}

TEST_CASE("qrun plugins prints exactly one warning line per refused library", "[cli][registry]") {
  auto r = qrun_cli("plugins --plugin-path " + kDir, "cli_plugins_warnings");
  REQUIRE(r.exit_code == 0);
  const std::vector<std::string> broken = {"test_no_callback", "test_plain",       "test_throwing",  "test_twin",
                                           "test_unresolved",  "test_wrong_api", "test_wrong_torch"};
  for (const auto& id : broken) {
    const auto lines = lines_with(r.err, kDir + "/libqrun_" + id + ".so");
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0], Catch::Contains("warning: ") && Catch::Contains("; fix: "));
  }
  CHECK(lines_with(r.err, "libqrun_test_good.so:").empty());
  CHECK_THAT(r.out, Catch::Contains("test_noise (transform, defense)"));
}

TEST_CASE("qrun plugins NAME shows one component and an unknown NAME is one error line", "[cli][registry]") {
  auto one = qrun_cli("plugins --plugin-path " + kDir + " test_constant", "cli_plugins_name");
  REQUIRE(one.exit_code == 0);
  CHECK_THAT(one.out, Catch::StartsWith("test_constant (metric, per model)"));
  CHECK_THAT(one.out, !Catch::Contains("test_noise"));

  auto unknown = qrun_cli("plugins --plugin-path " + kDir + " test_constnt", "cli_plugins_unknown");
  CHECK(unknown.exit_code == 1);
  const auto errors = lines_with(unknown.err, "error: ");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("did you mean 'test_constant'?"));
}

TEST_CASE("qrun plugins --markdown documents each parameter from its schema", "[cli][registry]") {
  auto r = qrun_cli("plugins --markdown --plugin-path " + kDir + " test_noise", "cli_plugins_markdown");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("### `test_noise`"));
  CHECK_THAT(r.out, Catch::Contains("| `sigma` | float | `0.01` | [0, 1] | ×RMS | noise scale |"));
  CHECK_THAT(r.out, !Catch::Contains(kDir));  // no machine-specific paths in generated docs
}
