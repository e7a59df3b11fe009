// Intra-op thread count for CPU work (issue 19): on a busy machine, libgomp threads that outnumber
// the free cores spin against each other (stories260K perplexity measured 4-6x slower with 2 threads
// than with 1 on a loaded 2-core machine). Internal.
//
// Choice, first that applies:
//   QRUN_THREADS=N (N >= 1)   exactly N threads ("auto" or unset: the automatic choice)
//   OMP_NUM_THREADS=N         libtorch's own reading of it is kept
//   automatic                 physical cores of this process's CPU set (sched_getaffinity and
//                             /sys/devices/system/cpu/cpu*/topology), minus the busy ones
//                             (round(1-minute /proc/loadavg)), at least 1
// libgomp reads OMP_WAIT_POLICY only when it loads; qrun re-executes itself once with
// OMP_WAIT_POLICY=PASSIVE (idle threads sleep instead of spinning) unless the user set it.
#pragma once

#include <optional>
#include <string>

namespace qrun::runner {

struct ThreadInputs {
  std::optional<std::string> qrun_threads;  // QRUN_THREADS
  std::optional<std::string> omp_threads;   // OMP_NUM_THREADS
  int physical_cores = 1;                   // in this process's CPU set
  int logical_cpus = 1;                     // sched_getaffinity count
  double load1 = 0.0;                       // /proc/loadavg, first field
};

struct ThreadChoice {
  int threads = 1;      // 0: left to libtorch (OMP_NUM_THREADS)
  std::string source;   // "QRUN_THREADS", "OMP_NUM_THREADS", "auto"
  std::string summary;  // for logs and results.json: "1 (auto: 2 physical cores, load 1.9)"
  std::optional<std::string> error;  // QRUN_THREADS unreadable: what was wrong
};

// Pure decision from the inputs (unit-tested).
ThreadChoice choose_threads(const ThreadInputs& in);

// Reads the environment, the CPU set, the topology and the load average.
ThreadInputs read_thread_inputs();

// At the start of main: re-executes with OMP_WAIT_POLICY=PASSIVE when unset (returns only when it
// did not re-execute), then chooses and applies the thread count (at::set_num_threads) before any
// parallel region. The choice is kept for results.json (applied_threads()).
void configure_threads(int argc, char** argv);
const ThreadChoice& applied_threads();

}  // namespace qrun::runner
