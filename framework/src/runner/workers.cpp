// Worker processes, one per device.
#include "runner/workers.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace qrun::runner {

Result<std::vector<std::string>> parse_devices(const std::string& text, const std::string& option) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string d = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (d.empty()) return Error{option, "'" + text + "' has an empty device", "list devices separated by commas, e.g. cuda:0,cuda:1"};
    out.push_back(d);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::filesystem::path self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("qrun") : p;
}

Result<void> run_workers(const std::vector<WorkerSpec>& workers) {
  std::map<pid_t, std::size_t> running;
  for (std::size_t k = 0; k < workers.size(); ++k) {
    const WorkerSpec& w = workers[k];
    std::error_code ec;
    std::filesystem::create_directories(w.log.parent_path(), ec);
    const int fd = ::open(w.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return Error{w.log.string(), std::string("cannot open (") + std::strerror(errno) + ")", "check the run folder's permissions", ErrorCode::io};
    std::vector<char*> argv;
    for (const std::string& a : w.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fd);
      return Error{"worker for " + w.device, std::string("cannot start (") + std::strerror(errno) + ")", "free memory or processes", ErrorCode::io};
    }
    if (pid == 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(fd);
    running[pid] = k;
    spdlog::info("worker {} on {} started (pid {}), log {}", k + 1, w.device, pid, w.log.string());
  }
  std::string failed;
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const WorkerSpec& w = workers[it->second];
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    if (ok) spdlog::info("worker {} on {} finished", it->second + 1, w.device);
    else {
      spdlog::error("worker {} on {} failed ({}); see {}", it->second + 1, w.device, how, w.log.string());
      failed += (failed.empty() ? "" : ", ") + w.device + " (" + how + ", log " + w.log.string() + ")";
    }
    running.erase(it);
  }
  if (!failed.empty())
    return Error{"workers", "failed on " + failed, "read the logs; running the same command again computes only the missing cells"};
  return {};
}

}  // namespace qrun::runner
