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
  // Rank r is arena[offsets[r], offsets[r + 1]).
  RankTable(std::string arena, std::vector<std::uint32_t> offsets);

  std::uint32_t find(const std::uint8_t* p, std::size_t n) const {
    if (n == 1) return byte_rank_[*p];
    if (n == 2) return pair_rank_[p[0] << 8 | p[1]];
    return find_hashed(p, n, hash_bytes(p, n));
  }
  // find() when h = hash_bytes(p, n) is known already (n >= 2).
  std::uint32_t find_hashed(const std::uint8_t* p, std::size_t n, std::uint64_t h) const {
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot s = slots_[i];
      if (s.rank == kNoRank) return kNoRank;
      if (s.tag == tag && offsets_[s.rank + 1] - offsets_[s.rank] == n &&
          same_bytes(arena_.data() + offsets_[s.rank], p, n))
        return s.rank;
    }
  }
  std::string_view bytes(std::uint32_t rank) const {
    return {arena_.data() + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
  }
  std::size_t size() const { return offsets_.size() - 1; }
  std::size_t memory_bytes() const;

 private:
  // Short keys: word compares instead of a memcmp call.
  static bool same_bytes(const char* a, const std::uint8_t* b, std::size_t n) {
    while (n >= 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a, 8), std::memcpy(&y, b, 8);
      if (x != y) return false;
      a += 8, b += 8, n -= 8;
    }
    while (n--)
      if (static_cast<std::uint8_t>(*a++) != *b++) return false;
    return true;
  }
  struct Slot {
    std::uint32_t rank = kNoRank;
    std::uint32_t tag = 0;
  };
  std::string arena_;
  std::vector<std::uint32_t> offsets_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::uint32_t byte_rank_[256];
  std::vector<std::uint32_t> pair_rank_;  // every 2-byte key, indexed directly (256 KiB)
};

}  // namespace vpmoe::o200k
