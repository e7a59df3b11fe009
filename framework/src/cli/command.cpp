// The command table and the helpers every command shares (command.hpp).
#include "cli/command.hpp"

#include "registry/registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

namespace qrun::cli {
namespace {

std::vector<Command>& table() {
  static std::vector<Command> commands;  // filled by static initialisers of the cmd_*.cpp files
  return commands;
}

}  // namespace

bool register_command(Command command) {
  auto& commands = table();
  auto same = [&](const Command& c) { return c.name == command.name; };
  if (std::any_of(commands.begin(), commands.end(), same)) return false;
  auto at = std::lower_bound(commands.begin(), commands.end(), command,
                             [](const Command& a, const Command& b) { return a.name < b.name; });
  commands.insert(at, std::move(command));
  return true;
}

const std::vector<Command>& commands() { return table(); }

Registry load_registry(const GlobalOptions& global) {
  Registry registry = Registry::load(plugin_search_dirs(global.plugin_paths));
  for (const Error& refusal : registry.refusals()) spdlog::warn("{}", refusal.message());
  spdlog::debug("loaded {} plugin libraries with {} components", registry.plugins().size(),
                registry.components().size());
  return registry;
}

int report_error(const Error& error) {
  std::cerr << "error: " << error.message() << std::endl;
  return 1;
}

int run_reporting_errors(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ErrorException& e) {
    return report_error(e.error());
  } catch (const std::exception& e) {
    return report_error(Error{command, e.what(), "report this with the command line that caused it", ErrorCode::internal});
  }
}

std::optional<int> parse_options(const std::vector<std::string>& args, const OptionsSpec& spec,
                                 const boost::program_options::options_description& desc,
                                 boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  const std::string usage = "usage: " + spec.usage;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{spec.command, e.what(), usage});
  }
  if (vm.count("help")) {
    std::cout << spec.intro << ":\n  " << spec.usage << "\n\n" << desc << "\n";
    return 0;
  }
  for (const std::string& option : spec.required) {
    if (!vm.count(option)) return report_error(Error{spec.command, "no --" + option + " given", usage});
  }
  return std::nullopt;
}

}  // namespace qrun::cli
