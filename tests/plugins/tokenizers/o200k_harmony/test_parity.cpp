// Exact parity with tiktoken 1.0.22 on every case of the shared reference file, both modes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace vpmoe::o200k::test {
namespace {

struct Case {
  std::string src, mode, text;
  std::vector<std::int32_t> ids;
};

std::vector<Case> parity_cases(
    const std::string& file = "tests/data/tokenizer/parity_o200k_harmony.jsonl") {
  const std::string path = source_path(file);
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    out.push_back({j["src"], j["mode"], j["text"], j["ids"].get<std::vector<std::int32_t>>()});
  }
  return out;
}

std::size_t mismatches(const std::vector<Case>& cases) {
  const std::vector<std::string> all{"all"};
  std::size_t failures = 0;
  for (const auto& c : cases) {
    EXPECT_TRUE(c.mode == "ordinary" || c.mode == "all") << c.mode;
    const auto got = c.mode == "ordinary" ? tokenizer().encode_ordinary(c.text)
                                          : tokenizer().encode(c.text, all);
    if (got != c.ids && ++failures <= 10) {
      ADD_FAILURE() << c.src << " (" << c.mode << "): " << nlohmann::json(c.text).dump()
                    << "\n  want " << nlohmann::json(c.ids).dump() << "\n  got  "
                    << nlohmann::json(got).dump();
    }
  }
  return failures;
}

TEST(Parity, EveryReferenceCaseInBothModes) {
  const auto cases = parity_cases();
  ASSERT_EQ(cases.size(), 8321u);
  EXPECT_EQ(mismatches(cases), 0u) << "of " << cases.size();
  EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [](auto& c) { return c.mode == "all"; }));
  EXPECT_TRUE(
      std::any_of(cases.begin(), cases.end(), [](auto& c) { return c.mode == "ordinary"; }));
}

// Pre-tokenizer corner cases (contractions, letter classes, marks, numbers, whitespace,
// specials as text), encoded by the same tiktoken build (make_edge_cases.cjs).
TEST(Parity, EdgeCases) {
  const auto cases = parity_cases("tests/data/tokenizer/parity_edge_cases.jsonl");
  ASSERT_EQ(cases.size(), 100u);
  EXPECT_EQ(mismatches(cases), 0u);
}

// Decoding inverts encoding, except that id 200018 has two names and decodes as
// <|reserved_200018|> (see specials.h).
TEST(Parity, DecodeGivesBackEveryReferenceText) {
  std::size_t renamed = 0;
  for (const auto& c : parity_cases()) {
    std::string want = c.text;
    for (std::size_t at; c.mode == "all" && (at = want.find("<|endofprompt|>")) != want.npos;
         ++renamed)
      want.replace(at, 15, "<|reserved_200018|>");
    ASSERT_EQ(tokenizer().decode_text(c.ids), want) << c.src;
  }
  EXPECT_GT(renamed, 0u);
}

}  // namespace
}  // namespace vpmoe::o200k::test
