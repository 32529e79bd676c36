// Harmony rendering against the openai/harmony test suite's expected renders
// (tests/data/tokenizer/harmony/golden). The conversations are in golden_cases.json; the
// expected text is encoded with every special allowed, as that suite compares.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixture.h"

namespace vpmoe::o200k::test {
namespace {

std::string read(const std::string& rel) {
  std::ifstream in(source_path(rel), std::ios::binary);
  EXPECT_TRUE(in) << rel;
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

TEST(HarmonyGolden, EveryRenderingCaseOfTheHarmonySuite) {
  const auto cases =
      nlohmann::ordered_json::parse(read("tests/data/tokenizer/harmony/golden_cases.json"));
  ASSERT_EQ(cases.size(), 19u);
  const std::vector<std::string> all{"all"};
  for (const auto& c : cases) {
    const std::string golden = c["golden"];
    std::string want_text = read("tests/data/tokenizer/harmony/golden/" + golden);
    while (!want_text.empty() && std::isspace(static_cast<unsigned char>(want_text.back())))
      want_text.pop_back();  // the suite trims the files' ends
    RenderOptions o;
    o.training = false;
    o.pipeline_rules = false;
    o.append_eod = false;
    o.completion = c["options"].value("completion", false);
    o.drop_analysis = c["options"].value("drop_analysis", false);
    const auto got = tokenizer().render_conversation(
        nlohmann::ordered_json{{"messages", c["messages"]}}.dump(), o);
    EXPECT_EQ(got.tokens, tokenizer().encode(want_text, all))
        << golden << "\nwant: " << want_text << "\ngot:  " << tokenizer().decode_bytes(got.tokens);
  }
}

}  // namespace
}  // namespace vpmoe::o200k::test
