// qrun's subcommands. Each lives in its own cli/cmd_<name>.cpp and registers itself:
//
//   QRUN_CLI_COMMAND(cmd_tokenize, {"tokenize", "Tokenize text with a model's tokenizer",
//                                   "qrun tokenize --model M [--text FILE|-]", run_tokenize});
//
// A command receives the arguments after its name and the global options, and returns the exit
// code. Errors are printed as one line ("error: <thing>: <reason>; fix: <fix>") by report_error.
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace qrun {
class Registry;
}

namespace qrun::cli {

struct GlobalOptions {
  std::string log_level = "info";                     // --log-level
  std::vector<std::filesystem::path> plugin_paths;    // --plugin-path (repeatable)
};

struct Command {
  std::string name;
  std::string summary;   // one line for `qrun --help`
  std::string usage;     // e.g. "qrun tokenize --model M [--text FILE|-]"
  std::function<int(const std::vector<std::string>& args, const GlobalOptions& global)> run;
};

bool register_command(Command command);
const std::vector<Command>& commands();

// Loads the registry from the global options' plugin folders; prints refusals as warnings.
Registry load_registry(const GlobalOptions& global);
// Prints "error: <message>" to stderr and returns the exit code to use (1).
int report_error(const Error& error);

}  // namespace qrun::cli

#define QRUN_CLI_COMMAND(var, ...) \
  static const bool var = ::qrun::cli::register_command(::qrun::cli::Command __VA_ARGS__)
