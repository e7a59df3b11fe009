// spdlog set-up, done once by `main` (and by tools that want the same format). Internal.
#pragma once

#include <qrun/error.hpp>

#include <string_view>

namespace qrun {

// Makes spdlog's default logger write "[HH:MM:SS] level: message" lines to stderr at `level`
// ("trace", "debug", "info", "warn"/"warning", "error", "off"). Error::thing is "--log-level".
Result<void> setup_logging(std::string_view level);

}  // namespace qrun
