// Progress reporting for long loops: a bar on a terminal, periodic lines with an ETA otherwise.
#include "common/progress.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unistd.h>

namespace qrun {
namespace {

using Clock = std::chrono::steady_clock;

class ProgressImpl final : public Progress {
 public:
  ProgressImpl(std::string label, std::int64_t total, ProgressOptions options)
      : label_(std::move(label)), total_(total), options_(options), start_(Clock::now()), last_(start_) {
    if (options_.style == ProgressStyle::automatic) {
      options_.style = isatty(fileno(stderr)) ? ProgressStyle::bar : ProgressStyle::lines;
    }
    // The bar is decoration: hide it when info messages are hidden.
    enabled_ = spdlog::should_log(spdlog::level::info);
  }
  ~ProgressImpl() override { finish(); }

  void advance(std::int64_t n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    done_ += n;
    const auto now = Clock::now();
    const auto period = options_.style == ProgressStyle::bar ? std::chrono::milliseconds(100) : options_.interval;
    if (now - last_ >= period) {
      last_ = now;
      emit(now, false);
    }
  }

  void finish() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    emit(Clock::now(), true);
  }

 private:
  // "120/1000 (12%), 3.2/s, ETA 4m35s" or, when finished, "1000/1000 in 5m02s".
  std::string status(Clock::time_point now, bool final) const {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::string s = std::to_string(done_);
    if (total_ > 0) {
      s += "/" + std::to_string(total_);
      if (!final) s += fmt::format(" ({:.0f}%)", 100.0 * static_cast<double>(done_) / static_cast<double>(total_));
    }
    if (final) return s + " in " + format_duration(elapsed);
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
    s += fmt::format(", {:.3g}/s", rate);
    if (total_ > 0 && rate > 0 && done_ < total_) {
      s += ", ETA " + format_duration(static_cast<double>(total_ - done_) / rate);
    }
    return s;
  }

  void emit(Clock::time_point now, bool final) {
    if (!enabled_) return;
    if (options_.style == ProgressStyle::lines) {
      spdlog::info("{}: {}", label_, status(now, final));
      return;
    }
    constexpr int kWidth = 30;
    const double fraction = total_ > 0 ? std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)) : 0.0;
    const int filled = static_cast<int>(std::floor(fraction * kWidth));
    std::string bar = total_ > 0 ? "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " : "";
    std::fprintf(stderr, "\r\033[K%s %s%s%s", label_.c_str(), bar.c_str(), status(now, final).c_str(),
                 final ? "\n" : "");
    std::fflush(stderr);
  }

  std::mutex mutex_;
  std::string label_;
  std::int64_t total_;
  ProgressOptions options_;
  Clock::time_point start_, last_;
  std::int64_t done_ = 0;
  bool finished_ = false;
  bool enabled_ = true;
};

}  // namespace

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::unique_ptr<Progress> make_progress(std::string label, std::int64_t total, ProgressOptions options) {
  return std::make_unique<ProgressImpl>(std::move(label), total, options);
}

}  // namespace qrun
