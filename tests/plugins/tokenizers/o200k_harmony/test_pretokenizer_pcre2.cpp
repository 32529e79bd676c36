// Differential test of the hand-written pre-tokenizer against a backtracking regex engine
// (PCRE2, Perl semantics like tiktoken's fancy-regex) running the o200k pattern itself, on
// random text over every kind of character the pattern distinguishes.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>
#include <unicode/uchar.h>

#include <random>

#include "pretokenizer.h"

namespace vpmoe::o200k::test {
namespace {

// Rust's \s is White_Space; PCRE2's \s also takes U+180E, so spell the class out.
#define WS             \
  "\\t\\n\\x0B\\f\\r " \
  "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
constexpr const char* kPattern =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^" WS
    "\\p{L}\\p{N}]+[\\r\\n/]*"
    "|[" WS
    "]*[\\r\\n]+"
    "|[" WS "]+(?![^" WS
    "])"
    "|[" WS "]+";
#undef WS

class Pcre2 {
 public:
  Pcre2() {
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &off, nullptr);
    EXPECT_NE(code_, nullptr) << "pattern error " << err << " at " << off;
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Pcre2() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  // End of the match anchored at pos, or 0 when there is none.
  std::size_t match_end(const std::string& s, std::size_t pos) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                               PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, data_, nullptr);
    return rc > 0 ? pcre2_get_ovector_pointer(data_)[1] : 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* data_ = nullptr;
};

void append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | c >> 6), s += static_cast<char>(0x80 | (c & 63));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | c >> 12), s += static_cast<char>(0x80 | (c >> 6 & 63));
    s += static_cast<char>(0x80 | (c & 63));
  } else {
    s += static_cast<char>(0xF0 | c >> 18), s += static_cast<char>(0x80 | (c >> 12 & 63));
    s += static_cast<char>(0x80 | (c >> 6 & 63)), s += static_cast<char>(0x80 | (c & 63));
  }
}

// PCRE2 10.42 knows Unicode 14, ICU 72 Unicode 15: draw only characters whose general
// category both agree on (a character new in 15 is unassigned to PCRE2).
bool same_category(const Pcre2&, char32_t c) {
  static pcre2_code* cn = [] {
    int err;
    PCRE2_SIZE off;
    return pcre2_compile(reinterpret_cast<PCRE2_SPTR>("^\\p{Cn}$"), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF, &err, &off, nullptr);
  }();
  static pcre2_match_data* md = pcre2_match_data_create_from_pattern(cn, nullptr);
  std::string s;
  append_utf8(s, c);
  const bool pcre_unassigned =
      pcre2_match(cn, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md, nullptr) > 0;
  return pcre_unassigned == (u_charType(static_cast<UChar32>(c)) == U_UNASSIGNED);
}

std::vector<char32_t> character_pool(const Pcre2& re) {
  std::vector<char32_t> pool;
  auto add = [&](char32_t c) {
    if (same_category(re, c)) pool.push_back(c);
  };
  for (char32_t c = 0x20; c < 0x7F; ++c) add(c);
  for (char32_t c : {U'\t', U'\n', U'\r', U'\v', U'\f', U'\x85', U'\xA0', U'\x1680', U'\x180E',
                     U'\x2000', U'\x2009', U'\x200B', U'\x2028', U'\x2029', U'\x202F', U'\x205F',
                     U'\x3000', U'\x1C', U'\x1F'})
    add(c);
  for (char32_t c : {U'\x17F',  U'\x212A', U'\x1C5',  U'\x1C8',   U'\x2B0',   U'\x2B9',   U'\x3005',
                     U'\x300',  U'\x301',  U'\x20DD', U'\x903',   U'\x2160',  U'\xBD',    U'\x660',
                     U'\xFF11', U'\xDF',   U'\x130',  U'\x131',   U'\xC0',    U'\xE9',    U'\x4E2D',
                     U'\xAC00', U'\x627',  U'\x5D0',  U'\x1F600', U'\x1F3FB', U'\x10348', U'\xE000',
                     U'\x378',  U'\xFFFD', U'\x2019', U'\xAB',    U'\x2F'})
    add(c);
  // And a spread of code points from every plane.
  std::mt19937 rng(99);
  std::uniform_int_distribution<std::uint32_t> any(0, 0x10FFFF);
  while (pool.size() < 400) {
    const std::uint32_t c = any(rng);
    if (c < 0xD800 || c > 0xDFFF) add(static_cast<char32_t>(c));
  }
  return pool;
}

TEST(PreTokenizer, MatchesTheRegexOnRandomText) {
  const Pcre2 re;
  const auto pool = character_pool(re);
  std::mt19937 rng(20261122);
  // Mostly the tricky ASCII (letters, apostrophes, spaces, breaks, '/'), sometimes anything.
  const std::u32string common = U"aAsS'  \n\r/1.";
  std::uniform_int_distribution<std::size_t> len(1, 24), pick_pool(0, pool.size() - 1),
      pick_common(0, common.size() - 1), coin(0, 2);
  std::size_t pieces = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    std::string s;
    for (std::size_t i = 0, n = len(rng); i < n; ++i)
      append_utf8(s, coin(rng) ? pool[pick_pool(rng)] : common[pick_common(rng)]);
    const PreTokenizer pre(char_classes(), s);
    for (std::size_t pos = 0; pos < s.size(); ++pieces) {
      const std::size_t want = re.match_end(s, pos);
      const std::size_t got = pre.piece_end(pos);
      ASSERT_EQ(got, want) << "at byte " << pos << " of " << testing::PrintToString(s);
      pos = got;
    }
  }
  EXPECT_GT(pieces, 500000u);
}

}  // namespace
}  // namespace vpmoe::o200k::test
