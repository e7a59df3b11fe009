// One qrun per output folder (issue 18, item 5): `qrun run` holds an exclusive flock(2) on
// <output>/.qrun.lock for the whole run, and writes its pid and host into the file. A second run
// on the same folder gets one clear error naming the holder. Shards (--shard I/N) share a folder
// by design: each holds .qrun.lock shared (so no whole run can start beside them, nor they beside
// a whole run) and .qrun-shard-I-of-N.lock exclusive (so one shard runs once at a time). The kernel drops the lock when the
// holder exits in any way (kill -9 included), so a stale file never blocks a later run.
// flock works on local file systems; on NFS it is emulated with POSIX locks (Linux >= 2.6.12).
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <string>

namespace qrun {

class RunLock {
 public:
  // Creates `dir` if needed and takes the lock(s), or returns who holds them. `shard`: "" for a
  // whole run, else its "I-of-N".
  static Result<RunLock> acquire(const std::filesystem::path& dir, const std::string& shard = "");

  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();  // releases the lock (the file stays: removing it would race with a new holder)

  static constexpr const char* kFileName = ".qrun.lock";

 private:
  RunLock(int folder_fd, int shard_fd) : fd_(folder_fd), shard_fd_(shard_fd) {}
  int fd_ = -1;
  int shard_fd_ = -1;
};

}  // namespace qrun
