#include "bpe.h"

#include <queue>

#include "piece_cache.h"

namespace vpmoe::o200k {
namespace {

// Short pieces: tiktoken's own scheme, an array of part boundaries with the rank of each
// part merged with its right neighbour; a linear scan finds the minimum. Fast while the
// array fits in a few cache lines.
constexpr std::size_t kSmall = 96;

void merge_small(const RankTable& ranks, const std::uint8_t* p, std::size_t n,
                 std::vector<std::int32_t>& out) {
  std::uint32_t start[kSmall + 1];
  std::uint32_t rank[kSmall + 1];
  std::size_t parts = n;  // parts i = [start[i], start[i+1]); start[parts] = n
  for (std::size_t i = 0; i < n; ++i) start[i] = static_cast<std::uint32_t>(i);
  start[n] = static_cast<std::uint32_t>(n);
  for (std::size_t i = 0; i + 1 < n; ++i) rank[i] = ranks.find(p + i, 2);
  rank[n - 1] = kNoRank;
  auto pair_rank = [&](std::size_t i) {  // rank of parts i and i+1 together
    return i + 1 < parts ? ranks.find(p + start[i], start[i + 2] - start[i]) : kNoRank;
  };
  while (parts > 1) {
    std::uint32_t best = kNoRank;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < parts; ++i)
      if (rank[i] < best) best = rank[i], at = i;
    if (best == kNoRank) break;
    // Merge parts at and at+1.
    for (std::size_t i = at + 1; i < parts; ++i) start[i] = start[i + 1];
    for (std::size_t i = at + 1; i + 1 < parts; ++i) rank[i] = rank[i + 1];
    --parts;
    rank[parts - 1] = kNoRank;
    rank[at] = pair_rank(at);
    if (at > 0) rank[at - 1] = pair_rank(at - 1);
  }
  for (std::size_t i = 0; i < parts; ++i)
    out.push_back(static_cast<std::int32_t>(ranks.find(p + start[i], start[i + 1] - start[i])));
}

// Long pieces (runs of CJK text, long symbol runs): a heap of candidate merges over a linked
// list of parts, O(n log n). Ordering by (rank, start) reproduces "lowest rank, leftmost".
void merge_large(const RankTable& ranks, const std::uint8_t* p, std::size_t n,
                 std::vector<std::int32_t>& out) {
  std::vector<std::uint32_t> next(n), prev(n), stamp(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = static_cast<std::uint32_t>(i + 1);
    prev[i] = static_cast<std::uint32_t>(i) - 1;  // wraps for i = 0: "none"
  }
  struct Cand {
    std::uint32_t rank, start, stamp;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : start > o.start; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push = [&](std::uint32_t s) {  // candidate: part s merged with its right neighbour
    const std::uint32_t m = next[s];
    if (m >= n) return;
    const std::uint32_t e = next[m];
    const std::uint32_t r = ranks.find(p + s, e - s);
    if (r != kNoRank) heap.push({r, s, stamp[s]});
  };
  for (std::uint32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (c.stamp != stamp[c.start]) continue;  // part changed since this was pushed
    const std::uint32_t s = c.start, m = next[s];
    next[s] = next[m];
    if (next[s] < n) prev[next[s]] = s;
    ++stamp[s];
    ++stamp[m];
    push(s);
    if (prev[s] < n) {
      ++stamp[prev[s]];
      push(prev[s]);
    }
  }
  for (std::uint32_t s = 0; s < n; s = next[s])
    out.push_back(static_cast<std::int32_t>(ranks.find(p + s, next[s] - s)));
}

}  // namespace

PieceCache& thread_piece_cache(const RankTable& ranks) {
  thread_local PieceCache cache;
  cache.bind(&ranks);
  return cache;
}

void bpe_encode(const RankTable& ranks, PieceCache& cache, const std::uint8_t* p, std::size_t n,
                std::vector<std::int32_t>& out) {
  if (n <= 2) {
    const std::uint32_t r = ranks.find(p, n);
    if (r != kNoRank) {
      out.push_back(static_cast<std::int32_t>(r));
    } else {
      out.push_back(static_cast<std::int32_t>(ranks.find(p, 1)));
      out.push_back(static_cast<std::int32_t>(ranks.find(p + 1, 1)));
    }
    return;
  }
  const std::uint64_t h = hash_bytes(p, n);
  const std::uint32_t whole = ranks.find_hashed(p, n, h);
  if (whole != kNoRank) {
    out.push_back(static_cast<std::int32_t>(whole));
    return;
  }
  if (n > PieceCache::kMaxPiece) {
    if (n <= kSmall)
      merge_small(ranks, p, n, out);
    else
      merge_large(ranks, p, n, out);
    return;
  }
  if (cache.get(p, n, h, out)) return;
  const std::size_t first = out.size();
  merge_small(ranks, p, n, out);
  cache.put(p, n, h, out.data() + first, out.data() + out.size());
}

}  // namespace vpmoe::o200k
