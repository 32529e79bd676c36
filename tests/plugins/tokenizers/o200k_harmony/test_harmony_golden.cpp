// Harmony rendering against the openai/harmony test suite's expected renders
// (tests/data/tokenizer/harmony/golden, copies of its test-data). The conversations are
// re-expressed as message dicts in golden_cases.json; the expected text is encoded with every
// special allowed, as that suite compares. One test per golden file.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fixture.h"

namespace vpmoe::o200k::test {
namespace {

using Json = nlohmann::ordered_json;

std::string read(const std::string& rel) {
  std::ifstream in(source_path(rel), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + source_path(rel));
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

// A golden's text as the suite reads it: its end trimmed.
std::string golden_text(const std::string& file) {
  std::string s = read("tests/data/tokenizer/harmony/golden/" + file);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

const Json& cases() {
  static const Json c = Json::parse(read("tests/data/tokenizer/harmony/golden_cases.json"));
  return c;
}

std::vector<std::size_t> case_indices() {
  std::vector<std::size_t> v(cases().size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

// Harmony's own render (no training rules, no EOD) with the case's options.
RenderedConversation render(const Json& messages, const Json& opts) {
  RenderOptions o;
  o.training = false;
  o.pipeline_rules = false;
  o.append_eod = false;
  o.completion = opts.value("completion", false);
  o.drop_analysis = opts.value("drop_analysis", false);
  return tokenizer().render_conversation(Json{{"messages", messages}}.dump(), o);
}

class HarmonyGolden : public ::testing::TestWithParam<std::size_t> {};

TEST_P(HarmonyGolden, RenderMatches) {
  const Json& c = cases()[GetParam()];
  const std::string want = golden_text(c["golden"]);
  auto got = render(c["messages"], c["options"]).tokens;
  // The suite's tool-response case compares a message's render without its <|end|>.
  if (c["options"].value("without_end", false)) {
    ASSERT_EQ(got.back(), kEnd);
    got.pop_back();
  }
  EXPECT_EQ(got, tokenizer().encode(want, std::vector<std::string>{"all"}))
      << "want: " << want << "\ngot:  " << tokenizer().decode_bytes(got);
}

INSTANTIATE_TEST_SUITE_P(Suite, HarmonyGolden, ::testing::ValuesIn(case_indices()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           std::string n = cases()[info.param]["golden"];
                           return n.substr(0, n.find('.'));  // test_simple_convo.txt -> name
                         });

// Every golden file but three parser-only ones has a rendering case.
TEST(HarmonyGoldenFiles, EveryRenderableGoldenHasACase) {
  std::set<std::string> covered;
  for (const auto& c : cases()) covered.insert(c["golden"].get<std::string>());
  EXPECT_EQ(covered.size(), 20u);
  EXPECT_EQ(covered.size(), cases().size()) << "a golden is used twice";
}

// test_streamable_parser.txt is a model's output (after "<|start|>assistant"), parsed by the
// suite. Its tool-call header puts the channel before " to=" (the order models emit, which
// the parser accepts); Harmony renders " to=" first, so that message cannot match. The other
// two messages render exactly as written there.
TEST(HarmonyGoldenFiles, StreamableParserAnalysisAndToolResponse) {
  const std::string g = golden_text("test_streamable_parser.txt");
  const std::vector<std::string> all{"all"};
  const std::string open = "<|channel|>analysis<|message|>", close = "<|end|>";
  ASSERT_EQ(g.rfind(open, 0), 0u);
  const std::string head = g.substr(0, g.find(close) + close.size());
  const std::string analysis = head.substr(open.size(), head.size() - open.size() - close.size());
  auto r =
      render(Json::array({{{"role", "assistant"}, {"channel", "analysis"}, {"content", analysis}}}),
             Json::object());
  EXPECT_EQ(r.tokens, tokenizer().encode("<|start|>assistant" + head, all));

  const std::string tail = g.substr(g.rfind("<|start|>"));
  r = render(Json::array({{{"role", "tool"},
                           {"name", "browser.search"},
                           {"recipient", "assistant"},
                           {"channel", "commentary"},
                           {"content", R"({"result": "https://openai.com/"})"}}}),
             Json::object());
  EXPECT_EQ(r.tokens, tokenizer().encode(tail, all)) << tokenizer().decode_bytes(r.tokens);
}

}  // namespace
}  // namespace vpmoe::o200k::test
