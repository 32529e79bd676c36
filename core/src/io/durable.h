#pragma once
// Small POSIX helpers for files that must reach the disk before they are renamed into place
// (indexed datasets, the host's JSON outputs). Every error names the path.
#include <cstddef>
#include <string>

namespace vpmoe::io {

// write(2) until all n bytes are out (EINTR retried).
void write_all(int fd, const void* data, std::size_t n, const std::string& path);
// fsync(2) of an open file, or of the file at path.
void sync_fd(int fd, const std::string& path);
void sync_path(const std::string& path);
// rename(2) from -> to, then fsync of to's directory so the new name itself is durable.
void rename_durably(const std::string& from, const std::string& to);

}  // namespace vpmoe::io
