// Exact parity with tiktoken 1.0.22 on every case of the shared reference file, both modes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace vpmoe::o200k::test {
namespace {

struct Case {
  std::string src, mode, text;
  std::vector<std::int32_t> ids;
};

std::vector<Case> parity_cases() {
  const std::string path = source_path("tests/data/tokenizer/parity_o200k_harmony.jsonl");
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

TEST(Parity, EveryReferenceCaseInBothModes) {
  const auto cases = parity_cases();
  ASSERT_EQ(cases.size(), 8321u);
  const std::vector<std::string> all{"all"};
  std::size_t failures = 0, ordinary = 0, with_specials = 0;
  for (const auto& c : cases) {
    std::vector<std::int32_t> got;
    if (c.mode == "ordinary") {
      got = tokenizer().encode_ordinary(c.text);
      ++ordinary;
    } else {
      ASSERT_EQ(c.mode, "all");
      got = tokenizer().encode(c.text, all);
      ++with_specials;
    }
    if (got != c.ids && ++failures <= 10) {
      ADD_FAILURE() << c.src << " (" << c.mode << "): " << nlohmann::json(c.text).dump()
                    << "\n  want " << nlohmann::json(c.ids).dump() << "\n  got  "
                    << nlohmann::json(got).dump();
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << cases.size();
  EXPECT_GT(ordinary, 0u);
  EXPECT_GT(with_specials, 0u);
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
