#pragma once
// Per-thread memo of BPE results for pieces that are not single tokens. Natural text and
// code repeat their words, so most such pieces are merged once per thread. Direct-mapped by
// the piece hash; keys are compared byte for byte, so a hit is always exact.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace vpmoe::o200k {

class PieceCache {
 public:
  static constexpr std::size_t kMaxPiece = 64;  // longer pieces are rare and not cached

  // Appends the cached ids of piece [p, p + n) to out; false on a miss.
  bool get(const std::uint8_t* p, std::size_t n, std::uint64_t h,
           std::vector<std::int32_t>& out) const {
    const Entry& e = slots_[h & kMask];
    if (e.hash != h || e.key_len != n || std::memcmp(keys_.data() + e.key_off, p, n) != 0)
      return false;
    out.insert(out.end(), ids_.begin() + e.ids_off, ids_.begin() + e.ids_off + e.n_ids);
    return true;
  }
  // Remembers ids [first, last) of out as the encoding of the piece.
  void put(const std::uint8_t* p, std::size_t n, std::uint64_t h, const std::int32_t* first,
           const std::int32_t* last) {
    if (keys_.size() > kArenaBytes) clear();
    Entry& e = slots_[h & kMask];
    e = Entry{h, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(n),
              static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint32_t>(last - first)};
    keys_.append(reinterpret_cast<const char*>(p), n);
    ids_.insert(ids_.end(), first, last);
  }
  // The cache belongs to one rank table; a thread switching tables starts afresh.
  void bind(const void* owner) {
    if (owner_ != owner) clear(), owner_ = owner;
  }

 private:
  static constexpr std::size_t kSlots = std::size_t{1} << 18, kMask = kSlots - 1;
  static constexpr std::size_t kArenaBytes = std::size_t{8} << 20;
  struct Entry {
    std::uint64_t hash = 0;
    std::uint32_t key_off = 0, key_len = 0, ids_off = 0, n_ids = 0;
  };
  void clear() {
    slots_.assign(kSlots, Entry{});
    keys_.clear();
    ids_.clear();
  }
  const void* owner_ = nullptr;
  std::vector<Entry> slots_ = std::vector<Entry>(kSlots);
  std::string keys_;
  std::vector<std::int32_t> ids_;
};

}  // namespace vpmoe::o200k
