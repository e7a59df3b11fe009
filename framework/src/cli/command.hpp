// qrun's subcommands. Each lives in its own cli/cmd_<name>.cpp and registers itself:
//
//   QRUN_CLI_COMMAND(cmd_tokenize, {"tokenize", "Tokenize text with a model's tokenizer",
//                                   "qrun tokenize --model M [--text FILE|-]", run_tokenize});
//
// A command receives the arguments after its name and the global options, and returns the exit
// code. Errors are printed as one line ("error: <thing>: <reason>; fix: <fix>") by report_error.
#pragma once

#include <qrun/error.hpp>

#include <boost/program_options.hpp>

#include <filesystem>
#include <functional>
#include <optional>
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
// Runs a command's body; an ErrorException or any other exception becomes one error line
// (naming `command`) and exit code 1 instead of escaping.
int run_reporting_errors(const std::string& command, const std::function<int()>& body);

// How a command parses its options with Boost.Program_options.
struct OptionsSpec {
  std::string command;                  // "qrun eval": the thing named by parse errors
  std::string usage;                    // the usage line printed with errors and --help
  std::string intro;                    // --help's first words, e.g. "Runs one metric on one model"
  std::vector<std::string> required;    // options that must be given (without "--")
};
// Parses `args` into `vm`. Returns the exit code when the command is done (0 after printing
// --help; 1 after one error line for a malformed or missing option), or nullopt to go on.
std::optional<int> parse_options(const std::vector<std::string>& args, const OptionsSpec& spec,
                                 const boost::program_options::options_description& desc,
                                 boost::program_options::variables_map& vm);

}  // namespace qrun::cli

#define QRUN_CLI_COMMAND(var, ...) \
  static const bool var = ::qrun::cli::register_command(::qrun::cli::Command __VA_ARGS__)
