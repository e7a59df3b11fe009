// Intra-op thread choice (issue 19): QRUN_THREADS, OMP_NUM_THREADS, and free physical cores from the
// load average. Pure decisions from given inputs; nothing here reads the real machine.
#include "runner/threads.hpp"

#include <catch2/catch.hpp>

using qrun::runner::choose_threads;
using qrun::runner::ThreadInputs;

TEST_CASE("automatic thread count: physical cores minus the busy ones, at least one", "[threads]") {
  ThreadInputs in;
  in.physical_cores = 2;
  in.logical_cpus = 2;
  in.load1 = 0.3;  // idle: both cores
  CHECK(choose_threads(in).threads == 2);
  CHECK(choose_threads(in).source == "auto");
  in.load1 = 1.2;  // one core busy
  CHECK(choose_threads(in).threads == 1);
  in.load1 = 16.0;  // oversubscribed machine: one thread, never zero
  CHECK(choose_threads(in).threads == 1);
  in.physical_cores = 4;
  in.logical_cpus = 8;  // hyper-threads do not count
  in.load1 = 0.0;
  CHECK(choose_threads(in).threads == 4);
  CHECK(choose_threads(in).summary == "4 (auto: 4 physical cores, 8 logical, load 0.0)");
}

TEST_CASE("QRUN_THREADS overrides everything; OMP_NUM_THREADS is left to libtorch", "[threads]") {
  ThreadInputs in;
  in.physical_cores = 2;
  in.load1 = 5.0;
  in.qrun_threads = "3";
  in.omp_threads = "1";
  auto c = choose_threads(in);
  CHECK(c.threads == 3);
  CHECK(c.source == "QRUN_THREADS");
  CHECK_FALSE(c.error);
  in.qrun_threads.reset();
  c = choose_threads(in);
  CHECK(c.threads == 0);
  CHECK(c.source == "OMP_NUM_THREADS");
  in.qrun_threads = "auto";  // auto wins over OMP_NUM_THREADS
  CHECK(choose_threads(in).source == "auto");
}

TEST_CASE("an unreadable QRUN_THREADS is an error naming the value", "[threads]") {
  ThreadInputs in;
  for (const char* bad : {"0", "-2", "two", "2x", ""}) {
    in.qrun_threads = bad;
    const auto c = choose_threads(in);
    REQUIRE(c.error);
    CHECK(c.error->find(std::string("'") + bad + "'") != std::string::npos);
  }
}
