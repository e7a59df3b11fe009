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

}  // namespace qrun::cli
