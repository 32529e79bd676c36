#pragma once
// Small POSIX helpers for files that must reach the disk before they are renamed into place
// (indexed datasets, the host's JSON outputs). Every error names the path.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

namespace vpmoe::io {

// write(2) until all n bytes are out (EINTR retried).
void write_all(int fd, const void* data, std::size_t n, const std::string& path);
// Test hook for a full disk: the nth write_all call from now (1: the next) fails with err, as a
// full disk would; 0 turns it off. VPMOE_FAIL_NTH_WRITE=N in the environment arms it at the
// first write_all of the process, for runs of the binary.
void fail_nth_write(std::uint64_t n, int err = ENOSPC);
// write_all calls so far in this process: a test counts a checkpoint's writes to aim the above.
std::uint64_t write_calls();
// fsync(2) of an open file, or of the file at path.
void sync_fd(int fd, const std::string& path);
void sync_path(const std::string& path);
// rename(2) from -> to, then fsync of to's directory so the new name itself is durable.
void rename_durably(const std::string& from, const std::string& to);

}  // namespace vpmoe::io
