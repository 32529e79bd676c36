#pragma once
// Token bytes -> rank: a read-only open-addressing table over one byte arena. A general hash
// map costs a node or a string per key; here a lookup is one 8-byte slot (rank + hash tag)
// and, on a tag hit, one memcmp into the arena.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace vpmoe::o200k {

inline constexpr std::uint32_t kNoRank = UINT32_MAX;

inline std::uint64_t hash_bytes(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8, n -= 8;
  }
  if (n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  return h ^ (h >> 32);
}

class RankTable {
 public:
  // tokens[r] is the byte string of rank r.
  explicit RankTable(const std::vector<std::string>& tokens);

  std::uint32_t find(const std::uint8_t* p, std::size_t n) const {
    if (n == 1) return byte_rank_[*p];
    const std::uint64_t h = hash_bytes(p, n);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot s = slots_[i];
      if (s.rank == kNoRank) return kNoRank;
      if (s.tag == tag && offsets_[s.rank + 1] - offsets_[s.rank] == n &&
          std::memcmp(arena_.data() + offsets_[s.rank], p, n) == 0)
        return s.rank;
    }
  }
  std::string_view bytes(std::uint32_t rank) const {
    return {arena_.data() + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
  }
  std::size_t size() const { return offsets_.size() - 1; }
  std::size_t memory_bytes() const;

 private:
  struct Slot {
    std::uint32_t rank = kNoRank;
    std::uint32_t tag = 0;
  };
  std::string arena_;
  std::vector<std::uint32_t> offsets_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::uint32_t byte_rank_[256];
};

}  // namespace vpmoe::o200k
