// System and developer content text: a missing system field takes openai-harmony's default
// (as its Python package does on reading a dict), an explicit null omits it (spec §5).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace vpmoe::o200k::test {
namespace {

using Json = nlohmann::ordered_json;

const std::string kIdentity = "You are ChatGPT, a large language model trained by OpenAI.";
const std::string kChannels =
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.";

// The render as text with specials, for readable comparisons.
std::string render_text(const Json& messages) {
  RenderOptions o;
  o.pipeline_rules = false;
  o.append_eod = false;
  o.training = false;
  const auto r = tokenizer().render_conversation(Json{{"messages", messages}}.dump(), o);
  return tokenizer().decode_text(r.tokens);
}

// The text of one system message whose system_content has `fields`.
std::string system_text(const Json& fields) {
  Json part = {{"type", "system_content"}};
  part.update(fields);
  const std::string s =
      render_text(Json::array({{{"role", "system"}, {"content", Json::array({part})}}}));
  const std::string open = "<|start|>system<|message|>", close = "<|end|>";
  EXPECT_EQ(s.rfind(open, 0), 0u) << s;
  return s.substr(open.size(), s.size() - open.size() - close.size());
}

TEST(HarmonySystemContent, EveryFieldMissingGivesHarmonysDefaults) {
  EXPECT_EQ(system_text(Json::object()),
            kIdentity + "\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n" + kChannels);
}

TEST(HarmonySystemContent, EveryFieldNullGivesNothing) {
  EXPECT_EQ(system_text({{"model_identity", nullptr},
                         {"reasoning_effort", nullptr},
                         {"conversation_start_date", nullptr},
                         {"knowledge_cutoff", nullptr},
                         {"channel_config", nullptr},
                         {"tools", nullptr}}),
            "");
}

TEST(HarmonySystemContent, EachFieldMissingNullOrSet) {
  const std::string cutoff = "\nKnowledge cutoff: 2024-06";
  const std::string rest = "\n\nReasoning: medium\n\n" + kChannels;
  struct Case {
    Json fields;
    std::string want;
  };
  const Case cases[] = {
      {{{"model_identity", nullptr}}, "Knowledge cutoff: 2024-06" + rest},
      {{{"model_identity", "M"}}, "M" + cutoff + rest},
      {{{"knowledge_cutoff", nullptr}}, kIdentity + rest},
      {{{"knowledge_cutoff", "2021-01"}}, kIdentity + "\nKnowledge cutoff: 2021-01" + rest},
      // No default for the date: missing and null both omit it.
      {{{"conversation_start_date", nullptr}}, kIdentity + cutoff + rest},
      {{{"conversation_start_date", "2025-06-28"}},
       kIdentity + cutoff + "\nCurrent date: 2025-06-28" + rest},
      {{{"reasoning_effort", nullptr}}, kIdentity + cutoff + "\n\n" + kChannels},
      {{{"reasoning_effort", "High"}}, kIdentity + cutoff + "\n\nReasoning: high\n\n" + kChannels},
      {{{"reasoning_effort", "low"}}, kIdentity + cutoff + "\n\nReasoning: low\n\n" + kChannels},
      {{{"channel_config", nullptr}}, kIdentity + cutoff + "\n\nReasoning: medium"},
      {{{"channel_config", {{"valid_channels", Json::array()}, {"channel_required", true}}}},
       kIdentity + cutoff + "\n\nReasoning: medium"},
      {{{"channel_config",
         {{"valid_channels", {"analysis", "final"}}, {"channel_required", false}}}},
       kIdentity + cutoff + "\n\nReasoning: medium\n\n# Valid channels: analysis, final."},
      {{{"tools", Json::object()}}, kIdentity + cutoff + rest},
  };
  for (const auto& c : cases) EXPECT_EQ(system_text(c.fields), c.want) << c.fields.dump();
}

// A namespace without tools shows its description as prose; with tools, as comments.
TEST(HarmonySystemContent, ToolNamespacesSortedByKey) {
  const Json tools = {
      {"zeta", {{"name", "zeta"}, {"description", "Line 1\nLine 2"}, {"tools", Json::array()}}},
      {"alpha",
       {{"name", "alpha"},
        {"description", "About alpha."},
        {"tools", {{{"name", "go"}, {"description", "Goes."}}}}}}};
  EXPECT_EQ(system_text({{"model_identity", nullptr},
                         {"knowledge_cutoff", nullptr},
                         {"reasoning_effort", nullptr},
                         {"channel_config", nullptr},
                         {"tools", tools}}),
            "# Tools\n\n## alpha\n\n// About alpha.\nnamespace alpha {\n\n// Goes.\n"
            "type go = () => any;\n\n} // namespace alpha\n\n## zeta\n\nLine 1\nLine 2");
}

// Harmony adds the commentary-channel line when any developer message declares non-empty
// `functions` tools, wherever that message stands in the conversation.
TEST(HarmonySystemContent, FunctionToolsLineFollowsTheDeveloperMessage) {
  auto conversation = [](const Json& function_list) {
    return Json::array(
        {{{"role", "system"}, {"content", {{{"type", "system_content"}}}}},
         {{"role", "developer"},
          {"content",
           {{{"type", "developer_content"},
             {"tools", {{"functions", {{"name", "functions"}, {"tools", function_list}}}}}}}}}});
  };
  const std::string line = "\nCalls to these tools must go to the commentary channel: 'functions'.";
  const std::string with = render_text(conversation({{{"name", "f"}, {"description", "F."}}}));
  EXPECT_NE(with.find(kChannels + line + "<|end|>"), std::string::npos) << with;
  const std::string without = render_text(conversation(Json::array()));
  EXPECT_EQ(without.find(line), std::string::npos) << without;
  // An empty namespace renders no declarations either.
  EXPECT_NE(without.find("<|start|>developer<|message|># Tools\n\n## functions\n<|end|>"),
            std::string::npos)
      << without;
}

TEST(HarmonyDeveloperContent, NoDefaults) {
  EXPECT_EQ(render_text(Json::array(
                {{{"role", "developer"}, {"content", {{{"type", "developer_content"}}}}}})),
            "<|start|>developer<|message|><|end|>");
  EXPECT_EQ(render_text(Json::array({{{"role", "developer"},
                                      {"content",
                                       {{{"type", "developer_content"},
                                         {"instructions", "Be brief.\nBe kind."},
                                         {"tools", nullptr}}}}}})),
            "<|start|>developer<|message|># Instructions\n\nBe brief.\nBe kind.<|end|>");
}

}  // namespace
}  // namespace vpmoe::o200k::test
