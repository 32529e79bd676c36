#include "io/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "vpmoe/error.h"

namespace vpmoe::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what + " (" + std::strerror(errno) + ")");
}

// fail_nth_write's countdown (0: off), armed from the environment on first use, and its errno.
std::atomic<std::uint64_t>& fail_countdown() {
  static std::atomic<std::uint64_t> n{[] {
    const char* v = std::getenv("VPMOE_FAIL_NTH_WRITE");
    return v ? std::strtoull(v, nullptr, 10) : 0;
  }()};
  return n;
}
std::atomic<int> g_fail_err{ENOSPC};
std::atomic<std::uint64_t> g_write_calls{0};

bool next_write_fails() {
  g_write_calls.fetch_add(1, std::memory_order_relaxed);
  auto& countdown = fail_countdown();
  std::uint64_t n = countdown.load(std::memory_order_relaxed);
  while (n > 0 && !countdown.compare_exchange_weak(n, n - 1)) {
  }
  if (n != 1) return false;
  errno = g_fail_err.load();
  return true;
}

}  // namespace

void fail_nth_write(std::uint64_t n, int err) {
  g_fail_err = err;
  fail_countdown() = n;
}

std::uint64_t write_calls() {
  return g_write_calls.load();
}

void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
  if (next_write_fails()) fail(path, "write failed");
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, "write failed");
    }
    p += w, n -= static_cast<std::size_t>(w);
  }
}

void sync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) fail(path, "fsync failed");
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open it to fsync");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  errno = err;
  // Some file systems refuse fsync on a directory (EINVAL): the rename stands regardless.
  if (rc != 0 && errno != EINVAL) fail(path, "fsync failed");
}

void rename_durably(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) fail(to, "cannot rename " + from + " into place");
  const auto dir = std::filesystem::path(to).parent_path();
  sync_path(dir.empty() ? std::string(".") : dir.string());
}

}  // namespace vpmoe::io
