#pragma once
// The o200k pre-tokenizer: where the piece starting at `pos` ends, exactly as tiktoken's
// regex (leftmost-first alternation, greedy with backtracking) would match it:
//   1
//   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//   2 [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?
//   3 \p{N}{1,3}
//   4  ?[^\s\p{L}\p{N}]+[\r\n/]*
//   5 \s*[\r\n]+
//   6 \s+(?!\S)
//   7 \s+
// Each alternative is written out as the backtracking it implies (see the comments below),
// which is what makes this a single forward pass instead of a regex engine. Input must be
// valid UTF-8 (checked by the caller).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "unicode_classes.h"

namespace vpmoe::o200k {

class PreTokenizer {
 public:
  PreTokenizer(const CharClasses& classes, std::string_view text)
      : classes_(classes),
        text_(reinterpret_cast<const std::uint8_t*>(text.data())),
        size_(text.size()) {}

  // End (exclusive byte offset) of the piece that starts at pos < text.size(). The first
  // character's class rules out most alternatives at once; the rest are tried in order.
  std::size_t piece_end(std::size_t pos) const {
    const Char first = at(pos);
    std::size_t end;
    if (first.cls & kNumber) return digits(pos);    // no lead, not a letter: 1, 2 fail
    if (first.cls & kCrLf) return whitespace(pos);  // and 3, 4 fail too
    if (first.cls & kLetter) {                      // a letter cannot be the lead
      if ((end = word_lower_from(pos))) return end;
      return word_upper_from(pos);
    }
    // A symbol, mark or non-break space: may lead a word.
    const std::size_t next = pos + first.len;
    if ((end = word_lower_from(next))) return end;
    const bool mark = first.cls & (kUpperish | kLowerish);
    if (mark && (end = word_lower_from(pos))) return end;
    if ((end = word_upper_from(next))) return end;
    if (mark && (end = word_upper_from(pos))) return end;
    if ((end = punctuation(pos))) return end;
    return whitespace(pos);
  }

 private:
  struct Char {
    std::uint8_t cls;
    std::uint8_t len;
  };

  Char at(std::size_t i) const {
    const std::uint8_t c = text_[i];
    if (c < 0x80) return {classes_.ascii(c), 1};
    std::uint32_t cp;
    std::uint8_t n;
    if (c < 0xE0) {
      cp = (c & 0x1Fu) << 6 | (text_[i + 1] & 0x3Fu), n = 2;
    } else if (c < 0xF0) {
      cp = (c & 0x0Fu) << 12 | (text_[i + 1] & 0x3Fu) << 6 | (text_[i + 2] & 0x3Fu), n = 3;
    } else {
      cp = (c & 0x07u) << 18 | (text_[i + 1] & 0x3Fu) << 12 | (text_[i + 2] & 0x3Fu) << 6 |
           (text_[i + 3] & 0x3Fu);
      n = 4;
    }
    return {classes_.of(cp), n};
  }
  static bool lead_ok(std::uint8_t cls) { return !(cls & (kCrLf | kLetter | kNumber)); }

  // Greedy run of characters having any bit of `mask`; returns its end.
  std::size_t run(std::size_t i, std::uint8_t mask) const {
    while (i < size_) {
      const Char c = at(i);
      if (!(c.cls & mask)) break;
      i += c.len;
    }
    return i;
  }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)? at i; case folding also maps U+017F (long s) to s.
  std::size_t contraction(std::size_t i) const {
    if (i >= size_ || text_[i] != '\'' || i + 1 >= size_) return i;
    const std::uint8_t a = text_[i + 1] | 0x20;
    const std::uint8_t b = i + 2 < size_ ? (text_[i + 2] | 0x20) : 0;
    if (text_[i + 1] == 0xC5 && i + 2 < size_ && text_[i + 2] == 0xBF) return i + 3;  // 'ſ
    if (text_[i + 1] >= 0x80) return i;
    switch (a) {
      case 's':
      case 't':
      case 'm':
      case 'd':
        return i + 2;
      case 'r':
      case 'v':
        return b == 'e' ? i + 3 : i;
      case 'l':
        return b == 'l' ? i + 3 : i;
      default:
        return i;
    }
  }

  // Pattern 1. Upper* is greedy, so Lower+ starts at the first place, going back from the
  // end of the Upper* run, that holds a Lower-class character: the character after the run
  // (then Lower+ runs on greedily) or else the last Lower-class character inside the run
  // (Lm/Lo/M are in both classes; Lower+ then takes just that one). The optional lead
  // character is tried first, then the match without it.
  std::size_t word_lower_from(std::size_t s) const {
    std::size_t i = s, last_lower = SIZE_MAX;
    while (i < size_) {
      const Char c = at(i);
      if (!(c.cls & kUpperish)) break;
      if (c.cls & kLowerish) last_lower = i;
      i += c.len;
    }
    if (i < size_ && (at(i).cls & kLowerish)) return contraction(run(i, kLowerish));
    if (last_lower == SIZE_MAX) return 0;
    return contraction(last_lower + at(last_lower).len);
  }

  // Pattern 2 from s (after the lead, or without it): Upper+ greedy (at least one), then
  // Lower* greedy, then the suffix.
  std::size_t word_upper_from(std::size_t s) const {
    const std::size_t e = run(s, kUpperish);
    return e > s ? contraction(run(e, kLowerish)) : 0;
  }

  // Pattern 3: one to three numbers.
  std::size_t digits(std::size_t pos) const {
    std::size_t i = pos;
    for (int k = 0; k < 3 && i < size_; ++k) {
      const Char c = at(i);
      if (!(c.cls & kNumber)) break;
      i += c.len;
    }
    return i > pos ? i : 0;
  }

  // Pattern 4: an optional space, symbols (not \s, \p{L}, \p{N}; marks count), then any
  // run of CR, LF and '/'.
  std::size_t punctuation(std::size_t pos) const {
    constexpr std::uint8_t kNotSymbol = kSpace | kLetter | kNumber;
    std::size_t s = pos;
    if (text_[pos] == ' ' && pos + 1 < size_ && !(at(pos + 1).cls & kNotSymbol)) s = pos + 1;
    if (at(s).cls & kNotSymbol) return 0;
    std::size_t i = run_not(s, kNotSymbol);
    while (i < size_ && (text_[i] == '\r' || text_[i] == '\n' || text_[i] == '/')) ++i;
    return i;
  }
  std::size_t run_not(std::size_t i, std::uint8_t mask) const {
    while (i < size_) {
      const Char c = at(i);
      if (c.cls & mask) break;
      i += c.len;
    }
    return i;
  }

  // Patterns 5-7 on the whitespace run [pos, e). 5: \s* backs off to the last CR/LF of the
  // run, so the piece ends just after it. 6: at the end of the text the whole run; before a
  // non-space character the run minus its last character, if that leaves one. 7: the run.
  std::size_t whitespace(std::size_t pos) const {
    std::size_t i = pos, last_break = SIZE_MAX, last_start = pos;
    while (i < size_) {
      const Char c = at(i);
      if (!(c.cls & kSpace)) break;
      if (c.cls & kCrLf) last_break = i;
      last_start = i;
      i += c.len;
    }
    if (last_break != SIZE_MAX) return last_break + 1;
    if (i == size_ || last_start > pos) return i == size_ ? i : last_start;
    return i;
  }

  const CharClasses& classes_;
  const std::uint8_t* text_;
  std::size_t size_;
};

}  // namespace vpmoe::o200k
