// qrun's main: global options, command dispatch, `qrun FILE.toml` and one-line errors.
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

namespace {

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

}  // namespace

TEST_CASE("an unknown command is one error line listing the commands", "[cli]") {
  auto r = qrun_cli("plugns", "cli_unknown_command");
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("error: plugns: unknown command; fix: did you mean 'plugins'? commands: "));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE("an invalid --log-level is one error line", "[cli]") {
  auto r = qrun_cli("--log-level loud plugins", "cli_bad_log_level");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "error: --log-level: 'loud' is not a log level; fix: use one of trace, debug, info, warn, error, off\n");
}

TEST_CASE("a global option without its value is one error line", "[cli]") {
  auto r = qrun_cli("plugins --plugin-path", "cli_missing_value");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "error: --plugin-path: needs a value; fix: write --plugin-path DIR\n");
}

TEST_CASE("an unknown global option is one error line", "[cli]") {
  auto r = qrun_cli("--bogus plugins", "cli_unknown_option");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::StartsWith("error: qrun: unrecognised option '--bogus'"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE("qrun --version names qrun, the plugin API and torch", "[cli]") {
  auto r = qrun_cli("--version", "cli_version");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("qrun ") && Catch::Contains("plugin API ") && Catch::Contains("torch "));
}

TEST_CASE("qrun --help lists every registered command", "[cli]") {
  auto r = qrun_cli("--help", "cli_help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("  plugins ") && Catch::Contains("  help ") && Catch::Contains("--plugin-path DIR"));
}

TEST_CASE("qrun FILE.toml is handed to the run command, not refused as a command", "[cli]") {
  auto r = qrun_cli("no-such-experiment.toml --dry-run", "cli_toml_alias");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, !Catch::Contains("unknown command") && Catch::Contains("no-such-experiment.toml"));
}

TEST_CASE("qrun help run prints the run command's options with their help", "[cli][help]") {
  auto r = qrun_cli("help run", "cli_help_run");
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("qrun run EXPERIMENT.toml"));
  for (const char* option : {"--dry-run", "--set KEY=VALUE", "--fresh", "--output DIR", "--help"}) {
    INFO(option);
    CHECK_THAT(r.out, Catch::Contains(option));
  }
  // The same text as `qrun run --help`.
  CHECK(qrun_cli("run --help", "cli_run_help").out == r.out);
}

TEST_CASE("qrun help COMMAND prints the options of every listed command", "[cli][help]") {
  // The command names, from the "Commands:" block of qrun --help (two-space indented lines).
  std::istringstream listing(qrun_cli("--help", "cli_help_listing").out);
  std::vector<std::string> names;
  bool in_commands = false;
  for (std::string line; std::getline(listing, line);) {
    if (line == "Commands:") in_commands = true;
    else if (line.empty()) in_commands = false;
    else if (in_commands && line.rfind("  ", 0) == 0) names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  REQUIRE(names.size() >= 12);
  CHECK(std::find(names.begin(), names.end(), "hash") != names.end());
  CHECK(std::find(names.begin(), names.end(), "verify") != names.end());
  for (const std::string& name : names) {
    INFO(name);
    auto r = qrun_cli("help " + name, "cli_help_each");
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    if (name != "help") CHECK_THAT(r.out, Catch::Contains("show this help"));
  }
}

TEST_CASE("qrun help with an unknown command is one error line", "[cli][help]") {
  auto r = qrun_cli("help rnu", "cli_help_unknown");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::StartsWith("error: rnu: unknown command; fix: use one of: "));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}
