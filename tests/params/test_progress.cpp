// Progress lines (the non-terminal form) and the default RunContext.
#include "common/progress.hpp"

#include <qrun/context.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace {

// Routes spdlog's default logger into a string for the lifetime of the object.
struct CapturedLog {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  CapturedLog() {
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text));
    logger->set_pattern("%l: %v");
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous); }
};

}  // namespace

TEST_CASE("progress lines report counts, percentage and an ETA, then a final line", "[progress]") {
  CapturedLog log;
  {
    auto p = qrun::make_progress("eval", 4, {qrun::ProgressStyle::lines, std::chrono::milliseconds(0)});
    p->advance(1);
    p->advance(1);
  }  // the destructor finishes
  const std::string out = log.text.str();
  CHECK_THAT(out, Catch::Contains("info: eval: 1/4 (25%)"));
  CHECK_THAT(out, Catch::Contains("ETA"));
  CHECK_THAT(out, Catch::Contains("info: eval: 2/4 in "));
}

TEST_CASE("finishing progress twice prints one final line", "[progress]") {
  CapturedLog log;
  auto p = qrun::make_progress("load", 0, {qrun::ProgressStyle::lines, std::chrono::hours(1)});
  p->advance(3);
  p->finish();
  p->finish();
  const std::string out = log.text.str();
  CHECK(out == "info: load: 3 in 0s\n");
}

TEST_CASE("durations print in seconds, minutes or hours", "[progress]") {
  CHECK(qrun::format_duration(12.4) == "12s");
  CHECK(qrun::format_duration(245) == "4m05s");
  CHECK(qrun::format_duration(3720) == "1h02m");
  CHECK(qrun::format_duration(-1) == "?");
}

TEST_CASE("the default context logs through spdlog and keeps its seed and device", "[context]") {
  CapturedLog log;
  auto ctx = qrun::make_default_context(42, c10::Device("cpu"));
  CHECK(ctx->seed() == 42);
  CHECK(ctx->device().is_cpu());
  ctx->warn("careful");
  CHECK(log.text.str() == "warning: careful\n");
}

TEST_CASE("the default context's generator is deterministic for a seed", "[context]") {
  auto ctx = qrun::make_default_context(0, c10::Device("cpu"));
  auto a = ctx->generator(7);
  auto b = ctx->generator(7);
  CHECK(a.current_seed() == 7);
  CHECK(b.current_seed() == 7);
  CHECK(at::check_generator<at::CPUGeneratorImpl>(a)->random() == at::check_generator<at::CPUGeneratorImpl>(b)->random());
}
