// Invalid conversations (tests/data/tokenizer/harmony/error_cases.json): each is a vpmoe::Error
// whose message names the message index and says what was expected. Pipeline-rule cases also
// render once the rules are off, so the rule, not the input, is what refuses them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixture.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::test {
namespace {

using Json = nlohmann::ordered_json;

const Json& cases() {
  static const Json c = [] {
    std::ifstream in(source_path("tests/data/tokenizer/harmony/error_cases.json"));
    std::stringstream b;
    b << in.rdbuf();
    return Json::parse(b.str());
  }();
  return c;
}

std::vector<std::size_t> case_indices() {
  std::vector<std::size_t> v(cases().size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

std::string input_of(const Json& c) {
  return c.contains("text") ? c["text"].get<std::string>() : c["conversation"].dump();
}

// The error message, or "(no error)"; any other exception type fails the test.
std::string render_error(const std::string& input, bool pipeline_rules) {
  RenderOptions o;
  o.pipeline_rules = pipeline_rules;
  try {
    tokenizer().render_conversation(input, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class HarmonyErrors : public ::testing::TestWithParam<std::size_t> {};

TEST_P(HarmonyErrors, NamesTheMessageAndTheExpectation) {
  const Json& c = cases()[GetParam()];
  const std::string input = input_of(c);
  const std::string msg = render_error(input, c["pipeline_rules"].get<bool>());
  const std::string want = c["error"];
  EXPECT_NE(msg.find(want), std::string::npos) << input << "\nwant: " << want << "\ngot:  " << msg;
  // Errors start with where they are: a message index, or the conversation as a whole.
  EXPECT_TRUE(msg.rfind("conversation message ", 0) == 0 || msg.rfind("conversation: ", 0) == 0)
      << msg;
  if (c.value("renders_without_pipeline_rules", false))
    EXPECT_EQ(render_error(input, false), "(no error)") << input;
}

INSTANTIATE_TEST_SUITE_P(Cases, HarmonyErrors, ::testing::ValuesIn(case_indices()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return cases()[info.param]["name"].get<std::string>();
                         });

// JSON of the wrong shape deep inside a content part is still a vpmoe::Error with the index,
// never a JSON library exception.
TEST(HarmonyErrorsShapes, OddSchemasRenderOrFailCleanly) {
  const char* odd[] = {R"({"type": "object", "properties": []})",
                       R"({"type": "object", "properties": {"a": 5}, "required": {}})",
                       R"({"oneOf": {}, "enum": 3, "nullable": "yes", "default": null})",
                       R"({"type": ["string", 3], "items": 1})",
                       R"({"type": "array", "items": [1, 2]})",
                       R"("string")",
                       R"({"type": "object", "properties": {"p": {"oneOf": [1, {"title": 2}]}}})"};
  for (const char* schema : odd) {
    const std::string conv =
        R"({"messages": [{"role": "developer", "content": [{"type": "developer_content",
        "tools": {"functions": {"name": "functions", "tools": [{"name": "f",
        "parameters": )" +
        std::string(schema) + "}]}}}]}]}";
    const std::string msg = render_error(conv, false);
    EXPECT_TRUE(msg == "(no error)" || msg.rfind("conversation message 0: ", 0) == 0)
        << schema << "\n"
        << msg;
  }
}

}  // namespace
}  // namespace vpmoe::o200k::test
