#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace vpmoe::host::data {

struct FileHash {
  std::string sha256;  // hex
  std::uint64_t bytes = 0;
};

// SHA-256 (OpenSSL) of bytes given piece by piece: a writer hashes what it writes, so the
// digest costs no second read of the file.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t n);
  FileHash finish();  // the digest and the byte count; the hasher is spent

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::uint64_t bytes_ = 0;
};

// Streams the file through SHA-256; throws naming the path.
FileHash hash_file(const std::string& path);

}  // namespace vpmoe::host::data
