#include "runner/threads.hpp"

#include <ATen/Parallel.h>
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace qrun::runner {
namespace {

ThreadChoice g_choice{0, "unset", "not configured", std::nullopt};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::optional<int> positive_int(const std::string& s) {
  try {
    std::size_t used = 0;
    const long v = std::stol(s, &used);
    if (used != s.size() || v < 1 || v > 4096) return std::nullopt;
    return static_cast<int>(v);
  } catch (...) {
    return std::nullopt;
  }
}

std::string load_text(double load) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", load);
  return buf;
}

}  // namespace

ThreadChoice choose_threads(const ThreadInputs& in) {
  ThreadChoice c;
  const int physical = std::max(1, in.physical_cores);
  if (in.qrun_threads && *in.qrun_threads != "auto") {
    if (auto n = positive_int(*in.qrun_threads)) {
      c.threads = *n;
      c.source = "QRUN_THREADS";
      c.summary = std::to_string(*n) + " (QRUN_THREADS)";
      return c;
    }
    c.error = "'" + *in.qrun_threads + "' is not a thread count";
  } else if (!in.qrun_threads && in.omp_threads) {
    c.threads = 0;
    c.source = "OMP_NUM_THREADS";
    c.summary = *in.omp_threads + " (OMP_NUM_THREADS)";
    return c;
  }
  // Busy cores: the 1-minute load average rounded (a load of 0.4 leaves every core free). Never
  // more threads than physical cores: hyper-threads share one core's vector units.
  const int busy = static_cast<int>(std::lround(std::max(0.0, in.load1)));
  c.threads = std::max(1, physical - busy);
  c.source = "auto";
  c.summary = std::to_string(c.threads) + " (auto: " + std::to_string(physical) + " physical cores, " +
              std::to_string(in.logical_cpus) + " logical, load " + load_text(in.load1) + ")";
  return c;
}

ThreadInputs read_thread_inputs() {
  ThreadInputs in;
  in.qrun_threads = env("QRUN_THREADS");
  in.omp_threads = env("OMP_NUM_THREADS");
  cpu_set_t set;
  CPU_ZERO(&set);
  std::set<std::pair<std::string, std::string>> cores;  // (package, core) of each allowed CPU
  int logical = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      ++logical;
      const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      std::string pkg, core;
      std::ifstream(dir + "physical_package_id") >> pkg;
      std::ifstream(dir + "core_id") >> core;
      cores.insert(core.empty() ? std::make_pair(std::string("cpu"), std::to_string(cpu)) : std::make_pair(pkg, core));
    }
  }
  if (logical == 0) logical = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  in.logical_cpus = logical;
  in.physical_cores = cores.empty() ? logical : static_cast<int>(cores.size());
  std::ifstream("/proc/loadavg") >> in.load1;
  return in;
}

void configure_threads(int argc, char** argv) {
  (void)argc;
  // libgomp reads its wait policy once, when it loads: set it and start again (once; the variable
  // being set stops a second re-execution). Failure to re-execute is harmless: we carry on.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("QRUN_NO_REEXEC")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  g_choice = choose_threads(read_thread_inputs());
  if (g_choice.threads > 0) at::set_num_threads(g_choice.threads);
}

const ThreadChoice& applied_threads() { return g_choice; }

}  // namespace qrun::runner
