#include "io/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "vpmoe/error.h"

namespace vpmoe::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what + " (" + std::strerror(errno) + ")");
}

}  // namespace

void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
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
