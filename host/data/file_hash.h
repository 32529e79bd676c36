#pragma once
#include <cstdint>
#include <string>

namespace vpmoe::host::data {

struct FileHash {
  std::string sha256;  // hex
  std::uint64_t bytes = 0;
};

// Streams the file through SHA-256 (OpenSSL); throws naming the path.
FileHash hash_file(const std::string& path);

}  // namespace vpmoe::host::data
