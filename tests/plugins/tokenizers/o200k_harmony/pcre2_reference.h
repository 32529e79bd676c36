#pragma once
// The o200k pattern run by PCRE2 (a backtracking engine with Perl semantics, like tiktoken's
// fancy-regex): the reference the hand-written pre-tokenizer is checked against, in the
// differential test and in the fuzzer.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/uchar.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace vpmoe::o200k::test {

// Rust's \s is White_Space; PCRE2's \s also takes U+180E, so the class is spelled out.
#define VPMOE_WS       \
  "\\t\\n\\x0B\\f\\r " \
  "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
inline constexpr const char* kO200kPattern =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^" VPMOE_WS
    "\\p{L}\\p{N}]+[\\r\\n/]*"
    "|[" VPMOE_WS
    "]*[\\r\\n]+"
    "|[" VPMOE_WS "]+(?![^" VPMOE_WS
    "])"
    "|[" VPMOE_WS "]+";
#undef VPMOE_WS

class Pcre2Reference {
 public:
  Pcre2Reference() : code_(compile(kO200kPattern, PCRE2_UTF | PCRE2_UCP)) {
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Pcre2Reference() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  Pcre2Reference(const Pcre2Reference&) = delete;
  Pcre2Reference& operator=(const Pcre2Reference&) = delete;

  // End of the match anchored at pos (valid UTF-8 s), or 0 when there is none.
  std::size_t match_end(const std::string& s, std::size_t pos) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                               PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, data_, nullptr);
    return rc > 0 ? pcre2_get_ovector_pointer(data_)[1] : 0;
  }

  // PCRE2 10.42 knows Unicode 14, ICU 72 Unicode 15: a character counts only where both
  // agree on whether it is assigned (one new in 15 is unassigned to PCRE2).
  static bool agrees(char32_t c) {
    static const std::vector<bool> table = [] {
      pcre2_code* cn = compile("^\\p{Cn}$", PCRE2_UTF);
      pcre2_match_data* md = pcre2_match_data_create_from_pattern(cn, nullptr);
      std::vector<bool> t(0x110000, false);
      for (char32_t cp = 0; cp < 0x110000; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        const std::string s = utf8(cp);
        const bool pcre_cn = pcre2_match(cn, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0,
                                         md, nullptr) > 0;
        t[cp] = pcre_cn == (u_charType(static_cast<UChar32>(cp)) == U_UNASSIGNED);
      }
      pcre2_match_data_free(md);
      pcre2_code_free(cn);
      return t;
    }();
    return c < 0x110000 && table[c];
  }

  static std::string utf8(char32_t c) {
    std::string s;
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
    return s;
  }

 private:
  static pcre2_code* compile(const char* pattern, std::uint32_t options) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                  options, &err, &off, nullptr);
    if (!c) throw std::runtime_error("PCRE2 pattern error " + std::to_string(err));
    return c;
  }
  pcre2_code* code_;
  pcre2_match_data* data_ = nullptr;
};

}  // namespace vpmoe::o200k::test
