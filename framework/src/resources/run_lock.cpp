// The output folder's lock (see run_lock.hpp).
#include "resources/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

namespace qrun {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string this_host() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "?";
  return buf.data();
}

// "pid 1234 on host node07", as the holder wrote it (cut to one short line).
std::string holder_of(int fd) {
  std::array<char, 200> buf{};
  const ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  std::string s = n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : "";
  if (const auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s.empty() ? "another process" : s;
}

}  // namespace

namespace {

// Opens `file` and flocks it (`how`: LOCK_EX or LOCK_SH) without waiting; writes our pid and host
// into it. Returns the descriptor.
Result<int> lock_file(const std::filesystem::path& dir, const std::filesystem::path& file, int how) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return Error::of(ErrorCode::io, file.string(), "cannot open the run lock (" + errno_text(err) + ")",
                     "choose a writable --output DIR");
  }
  if (::flock(fd, how | LOCK_NB) != 0) {
    const int err = errno;
    const std::string who = err == EWOULDBLOCK ? holder_of(fd) : "";
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Error::of(ErrorCode::invalid_argument, dir.string(), "another qrun is writing this folder (" + who + ")",
                       "wait for it to finish, or pass another --output DIR");
    return Error::of(ErrorCode::io, file.string(), "cannot lock (" + errno_text(err) + ")",
                     "use an output folder on a file system that supports locks");
  }
  const std::string me = "pid " + std::to_string(::getpid()) + " on host " + this_host() + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    const int err = errno;
    ::close(fd);
    return Error::of(ErrorCode::io, file.string(), "cannot write the run lock (" + errno_text(err) + ")",
                     "free disk space, or choose another --output DIR");
  }
  return fd;
}

}  // namespace

Result<RunLock> RunLock::acquire(const std::filesystem::path& dir, const std::string& shard) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Error::of(ErrorCode::io, dir.string(), "cannot create the output folder (" + ec.message() + ")",
                     "choose a writable --output DIR");
  auto folder = lock_file(dir, dir / kFileName, shard.empty() ? LOCK_EX : LOCK_SH);
  if (!folder) return folder.error();
  if (shard.empty()) return RunLock(*folder, -1);
  auto own = lock_file(dir, dir / (".qrun-shard-" + shard + ".lock"), LOCK_EX);
  if (!own) {
    ::close(*folder);
    return own.error();
  }
  return RunLock(*folder, *own);
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_), shard_fd_(other.shard_fd_) {
  other.fd_ = other.shard_fd_ = -1;
}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    this->~RunLock();
    fd_ = other.fd_;
    shard_fd_ = other.shard_fd_;
    other.fd_ = other.shard_fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (shard_fd_ >= 0) ::close(shard_fd_);  // closing the last descriptor releases the flock
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace qrun
