// qrun's entry point: global options, logging, threads, then one subcommand from the table.
//   qrun [--log-level LEVEL] [--plugin-path DIR]... COMMAND [ARGS...]
//   qrun EXPERIMENT.toml [ARGS...]   (the same as `qrun run EXPERIMENT.toml [ARGS...]`)
#include "cli/command.hpp"
#include "common/logging.hpp"
#include "common/version.hpp"
#include "runner/threads.hpp"

#include <qrun/params.hpp>
#include <qrun/plugin.hpp>

#include <ATen/Parallel.h>
#include <boost/program_options.hpp>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

po::options_description global_options() {
  po::options_description desc("Global options (accepted before or after the command)");
  desc.add_options()
      ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
       "trace, debug, info, warn, error or off")
      ("plugin-path", po::value<std::vector<std::string>>()->value_name("DIR")->composing(),
       "also load plugins from DIR (repeatable; searched before QRUN_PLUGIN_PATH and the default folders)")
      ("help,h", "show this help (after a command: that command's help)")
      ("version", "show qrun's, the plugin API's and torch's versions");
  return desc;
}

void print_help(std::ostream& out) {
  out << "qrun " << qrun_version() << ": measures what quantization and defenses do to language models\n\n"
      << "Usage: qrun [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
      << "       qrun EXPERIMENT.toml [ARGS...]   (same as: qrun run EXPERIMENT.toml [ARGS...])\n\n"
      << "Commands:\n";
  std::size_t width = 0;
  for (const Command& c : commands()) width = std::max(width, c.name.size());
  for (const Command& c : commands()) {
    out << "  " << c.name << std::string(width + 2 - c.name.size(), ' ') << c.summary << "\n";
  }
  out << "\n" << global_options() << "\nEach command's usage: qrun help COMMAND\n";
}

std::string command_names() {
  std::string names;
  for (const Command& c : commands()) names += (names.empty() ? "" : ", ") + c.name;
  return names;
}

const Command* find_command(const std::string& name) {
  for (const Command& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// `qrun help COMMAND` is `qrun COMMAND --help`: the usage line and every option with its help text.
int run_help(const std::vector<std::string>& args, const GlobalOptions& global) {
  if (args.empty() || (args.front() == "help" || args.front() == "--help" || args.front() == "-h")) {
    print_help(std::cout);
    return 0;
  }
  const Command* c = find_command(args.front());
  if (!c) return report_error(Error{args.front(), "unknown command", "use one of: " + command_names()});
  return c->run({"--help"}, global);
}

QRUN_CLI_COMMAND(cmd_help, {"help", "Show the commands, or one command's usage", "qrun help [COMMAND]", run_help});

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct CommandLine {
  std::vector<std::string> global_tokens;  // handed to Boost.Program_options
  std::optional<std::string> command;
  std::vector<std::string> args;           // after the command, global options removed
};

// Global options may appear anywhere; --help and --version only before the command (after it,
// they belong to the command). "--" ends option processing: everything after goes to the command.
Result<CommandLine> split_command_line(const std::vector<std::string>& argv) {
  CommandLine line;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& t = argv[i];
    if (t == "--") {
      line.args.insert(line.args.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    const bool takes_value = t == "--log-level" || t == "--plugin-path";
    if (takes_value) {
      if (i + 1 >= argv.size()) return Error{t, "needs a value", "write " + t + (t == "--log-level" ? " LEVEL" : " DIR")};
      line.global_tokens.push_back(t);
      line.global_tokens.push_back(argv[++i]);
      continue;
    }
    if (t.rfind("--log-level=", 0) == 0 || t.rfind("--plugin-path=", 0) == 0) {
      line.global_tokens.push_back(t);
      continue;
    }
    if (line.command) {
      line.args.push_back(t);
    } else if (!t.empty() && t[0] == '-' && t != "-") {
      line.global_tokens.push_back(t);  // --help, --version, or an unknown option (po says which)
    } else {
      line.command = t;
    }
  }
  return line;
}

int run_main(int argc, char** argv) {
  auto split = split_command_line(std::vector<std::string>(argv + 1, argv + argc));
  if (!split) return report_error(split.error());
  CommandLine& line = *split;

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(line.global_tokens).options(global_options()).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun", e.what(), "see qrun --help"});
  }
  GlobalOptions global;
  global.log_level = vm["log-level"].as<std::string>();
  if (vm.count("plugin-path")) {
    for (const auto& dir : vm["plugin-path"].as<std::vector<std::string>>()) global.plugin_paths.emplace_back(dir);
  }
  if (auto logging = setup_logging(global.log_level); !logging) return report_error(logging.error());

  if (vm.count("version")) {
    std::cout << "qrun " << qrun_version() << " (plugin API " << QRUN_PLUGIN_API_VERSION << ", torch "
              << torch_build_version() << ")\n";
    return 0;
  }
  if (vm.count("help")) {
    print_help(std::cout);
    return 0;
  }
  if (!line.command) {
    print_help(std::cerr);
    return 1;
  }

  // Intra-op threads before any parallel region (issue 19): QRUN_THREADS, else OMP_NUM_THREADS, else the
  // free physical cores; libgomp waits passively (runner/threads.hpp).
  runner::configure_threads(argc, argv);
  if (const auto& threads = runner::applied_threads(); threads.error)
    return report_error(Error{"QRUN_THREADS", *threads.error, "set a whole number >= 1, or auto"});

  std::string name = *line.command;
  if (ends_with(name, ".toml")) {
    line.args.insert(line.args.begin(), name);
    name = "run";
  }
  const Command* command = find_command(name);
  if (!command) {
    std::vector<std::string> names;
    for (const Command& c : commands()) names.push_back(c.name);
    std::string fix;
    if (auto near = nearest_name(name, names)) fix = "did you mean '" + *near + "'? ";
    fix += "commands: " + command_names();
    return report_error(Error{name, "unknown command", fix});
  }

  const std::string thing = "qrun " + command->name;
  const std::string fix = "this is a bug in qrun or a plugin; please report it with the command line";
  try {
    return command->run(line.args, global);
  } catch (const ErrorException& e) {
    return report_error(e.error());
  } catch (const c10::Error& e) {
    return report_error(Error{thing, std::string("torch error: ") + e.what_without_backtrace(), fix, ErrorCode::internal});
  } catch (const std::exception& e) {
    return report_error(Error{thing, std::string("unexpected error: ") + e.what(), fix, ErrorCode::internal});
  } catch (...) {
    return report_error(Error{thing, "unexpected non-standard exception", fix, ErrorCode::internal});
  }
}

}  // namespace
}  // namespace qrun::cli

int main(int argc, char** argv) { return qrun::cli::run_main(argc, argv); }
