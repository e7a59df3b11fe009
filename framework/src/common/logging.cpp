// spdlog set-up for the qrun executable: one stderr logger, one line per message.
#include "common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <utility>

namespace qrun {

Result<void> setup_logging(std::string_view level) {
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 8> kLevels = {{
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn}, {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off},
  }};
  for (const auto& [name, value] : kLevels) {
    if (name != level) continue;
    auto logger = spdlog::get("qrun");
    if (!logger) logger = spdlog::stderr_color_mt("qrun");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%T] %^%l%$: %v");
    spdlog::set_level(value);
    return {};
  }
  return Error{"--log-level", "'" + std::string(level) + "' is not a log level",
               "use one of trace, debug, info, warn, error, off"};
}

}  // namespace qrun
