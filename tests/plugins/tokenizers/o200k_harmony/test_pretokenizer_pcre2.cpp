// Differential test of the hand-written pre-tokenizer against PCRE2 running the o200k pattern
// itself, on random text over every kind of character the pattern distinguishes.
#include <gtest/gtest.h>

#include <random>

#include "pcre2_reference.h"
#include "pretokenizer.h"

namespace vpmoe::o200k::test {
namespace {

std::vector<char32_t> character_pool() {
  std::vector<char32_t> pool;
  auto add = [&](char32_t c) {
    if (Pcre2Reference::agrees(c)) pool.push_back(c);
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
  const Pcre2Reference re;
  const auto pool = character_pool();
  std::mt19937 rng(20261122);
  // Mostly the tricky ASCII (letters, apostrophes, spaces, breaks, '/'), sometimes anything.
  const std::u32string common = U"aAsS'  \n\r/1.";
  std::uniform_int_distribution<std::size_t> len(1, 24), pick_pool(0, pool.size() - 1),
      pick_common(0, common.size() - 1), coin(0, 2);
  std::size_t pieces = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    std::string s;
    for (std::size_t i = 0, n = len(rng); i < n; ++i)
      s += Pcre2Reference::utf8(coin(rng) ? pool[pick_pool(rng)] : common[pick_common(rng)]);
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
