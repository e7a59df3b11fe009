// Progress reporters behind qrun::Progress: a redrawn bar on a terminal, periodic log lines with
// an ETA otherwise (CI logs, files). Internal; plugins reach this through RunContext::progress.
#pragma once

#include <qrun/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace qrun {

enum class ProgressStyle {
  automatic,  // bar when stderr is a terminal, lines otherwise
  bar,        // redrawn in place on stderr
  lines,      // one spdlog info line per `interval`
};

struct ProgressOptions {
  ProgressStyle style = ProgressStyle::automatic;
  std::chrono::milliseconds interval{10000};  // between lines (style lines)
};

// `total` <= 0 means unknown: counts and rate are shown, no percentage or ETA.
std::unique_ptr<Progress> make_progress(std::string label, std::int64_t total, ProgressOptions options = {});

// "4m05s", "1h02m", "12s": durations as the progress lines print them.
std::string format_duration(double seconds);

}  // namespace qrun
