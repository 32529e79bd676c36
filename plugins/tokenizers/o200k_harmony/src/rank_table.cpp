#include "rank_table.h"

#include <bit>

#include "vpmoe/error.h"

namespace vpmoe::o200k {

RankTable::RankTable(std::string arena, std::vector<std::uint32_t> offsets)
    : arena_(std::move(arena)), offsets_(std::move(offsets)) {
  const std::size_t n_ranks = size();
  // Load factor <= 0.4 keeps probe chains short.
  const std::size_t cap = std::bit_ceil(n_ranks * 5 / 2 + 1);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (auto& r : byte_rank_) r = kNoRank;
  pair_rank_.assign(65536, kNoRank);
  for (std::uint32_t r = 0; r < n_ranks; ++r) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(arena_.data() + offsets_[r]);
    const std::size_t n = offsets_[r + 1] - offsets_[r];
    if (n == 1) byte_rank_[*p] = r;
    if (n == 2) pair_rank_[p[0] << 8 | p[1]] = r;
    const std::uint64_t h = hash_bytes(p, n);
    std::size_t i = h & mask_;
    while (slots_[i].rank != kNoRank) {
      if (bytes(slots_[i].rank) == bytes(r))
        throw Error("tokenizer ranks: token of rank " + std::to_string(r) +
                    " repeats the bytes of rank " + std::to_string(slots_[i].rank));
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot{r, static_cast<std::uint32_t>(h >> 32)};
  }
  for (int b = 0; b < 256; ++b)
    if (byte_rank_[b] == kNoRank)
      throw Error("tokenizer ranks: byte " + std::to_string(b) +
                  " has no rank (byte-level BPE needs all 256)");
}

std::size_t RankTable::memory_bytes() const {
  return arena_.capacity() + offsets_.capacity() * sizeof(std::uint32_t) +
         slots_.capacity() * sizeof(Slot) + pair_rank_.capacity() * sizeof(std::uint32_t) +
         sizeof(*this);
}

}  // namespace vpmoe::o200k
