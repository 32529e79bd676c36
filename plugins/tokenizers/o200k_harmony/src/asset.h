#pragma once
// The o200k_base.tiktoken asset: read from a local path, checked against its sha256, parsed
// into token bytes by rank. Nothing is fetched at run time.
#include <cstdint>
#include <string>
#include <vector>

namespace vpmoe::o200k {

struct Asset {
  std::string path;
  std::string sha256;                  // hex, of the file as read
  std::string arena;                   // every token's bytes, in rank order
  std::vector<std::uint32_t> offsets;  // rank r is arena[offsets[r], offsets[r + 1])
  std::size_t size() const { return offsets.size() - 1; }
};

// Throws vpmoe::Error naming the path: missing or unreadable, wrong sha256 (both hashes),
// or a line that is not "<base64> <rank>".
Asset load_asset(const std::string& path, const std::string& expected_sha256);

std::string sha256_hex(const std::string& bytes);

}  // namespace vpmoe::o200k
