#include "vpmoe/utf8.h"

#include <cstdint>

#include "vpmoe/error.h"

namespace vpmoe {
namespace {

// Length of the valid sequence at text[i], or 0 when invalid; `bad` receives the length of
// the maximal invalid subpart (>= 1) so that lossy replacement advances as WHATWG does.
std::size_t valid_len(std::string_view t, std::size_t i, std::size_t& bad) {
  auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(t[k]); };
  const std::uint8_t c = b(i);
  bad = 1;
  if (c < 0x80) return 1;
  std::size_t need;
  std::uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= t.size()) return 0;
    const std::uint8_t x = b(i + k);
    if (x < lo || x > hi) return 0;
    lo = 0x80, hi = 0xBF;
    bad = k + 1;
  }
  return need + 1;
}

}  // namespace

std::optional<std::size_t> utf8_first_invalid(std::string_view text) {
  std::size_t i = 0, bad = 0;
  while (i < text.size()) {
    // ASCII runs are the common case: skip 8 bytes at a time.
    while (i + 8 <= text.size()) {
      std::uint64_t w;
      __builtin_memcpy(&w, text.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= text.size()) break;
    const std::size_t n = valid_len(text, i, bad);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

void utf8_require(std::string_view text, std::string_view what) {
  if (auto at = utf8_first_invalid(text))
    throw Error(std::string(what) + ": invalid UTF-8 at byte " + std::to_string(*at) +
                " (pass the text through utf8_lossy, or the lossy option, to replace it)");
}

std::string utf8_lossy(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0, bad = 0;
  while (i < text.size()) {
    const std::size_t n = valid_len(text, i, bad);
    if (n) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

}  // namespace vpmoe
