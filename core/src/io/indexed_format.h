#pragma once
// The .idx header layout shared by the writer and the reader (spec/data.md §1).
#include <cstddef>

namespace vpmoe::indexed_format {

inline constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
inline constexpr unsigned long long kVersion = 1;
// magic, u64 version, u8 dtype, u64 sequence count, u64 document-index length
inline constexpr std::size_t kHeaderBytes = 9 + 8 + 1 + 8 + 8;

}  // namespace vpmoe::indexed_format
