#pragma once
// Byte-level BPE of one pre-tokenized piece, as tiktoken does it: the whole piece if it is a
// token, else start from single bytes and repeatedly merge the adjacent pair whose
// concatenation has the lowest rank (leftmost among equals).
#include <cstdint>
#include <vector>

#include "rank_table.h"

namespace vpmoe::o200k {

class PieceCache;

// This thread's piece cache for ranks (look it up once per text, not per piece).
PieceCache& thread_piece_cache(const RankTable& ranks);

// Appends the ranks of piece [p, p + n) to out.
void bpe_encode(const RankTable& ranks, PieceCache& cache, const std::uint8_t* p, std::size_t n,
                std::vector<std::int32_t>& out);

}  // namespace vpmoe::o200k
