// Harmony rendering for training data: loss mask and span ids (spec/data.md §2), the
// <|return|> rule, EOD, vpMoE's pipeline rules, and errors that name the message index.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::test {
namespace {

using Ids = std::vector<std::int32_t>;

const char* kConversation = R"({"messages": [
  {"role": "system", "content": [{"type": "system_content", "reasoning_effort": "low"}]},
  {"role": "developer", "content": [{"type": "developer_content", "instructions": "Be brief."}]},
  {"role": "user", "content": "What is 2 + 2?"},
  {"role": "assistant", "channel": "analysis", "content": "Add them."},
  {"role": "assistant", "channel": "final", "content": [{"type": "text", "text": "4"}]}]})";

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(HarmonyRender, TokensMaskAndSpanOfATrainingConversation) {
  const auto& tok = tokenizer();
  const auto r = tok.render_conversation(kConversation, RenderOptions{});
  ASSERT_EQ(r.loss_mask.size(), r.tokens.size());
  ASSERT_EQ(r.span.size(), r.tokens.size());

  auto text = [&](const char* t) { return tok.encode_ordinary(t); };
  const Ids system = concat({{kStart},
                             text("system"),
                             {kMessage},
                             text("You are ChatGPT, a large language model trained by OpenAI.\n"
                                  "Knowledge cutoff: 2024-06\n\nReasoning: low\n\n# Valid "
                                  "channels: analysis, commentary, final. Channel must be "
                                  "included for every message."),
                             {kEnd}});
  const Ids developer = concat(
      {{kStart}, text("developer"), {kMessage}, text("# Instructions\n\nBe brief."), {kEnd}});
  const Ids user = concat({{kStart}, text("user"), {kMessage}, text("What is 2 + 2?"), {kEnd}});
  const Ids analysis = concat({{kStart},
                               text("assistant"),
                               {kChannel},
                               text("analysis"),
                               {kMessage},
                               text("Add them."),
                               {kEnd}});
  const Ids final_ = concat(
      {{kStart}, text("assistant"), {kChannel}, text("final"), {kMessage}, text("4"), {kReturn}});
  EXPECT_EQ(r.tokens, concat({system, developer, user, analysis, final_, {kEndOfText}}));

  std::size_t at = 0;
  auto expect_run = [&](std::size_t n, int mask, int span, const char* what) {
    for (std::size_t i = 0; i < n; ++i, ++at) {
      ASSERT_EQ(r.loss_mask[at], mask) << what << " token " << i;
      ASSERT_EQ(r.span[at], span) << what << " token " << i;
    }
  };
  expect_run(system.size() + developer.size() + user.size(), 0, 0, "prompt");
  expect_run(analysis.size(), 1, 1, "analysis");
  expect_run(final_.size(), 1, 2, "final");
  expect_run(1, 0, 0, "EOD");
  EXPECT_EQ(at, r.tokens.size());
}

// vpMoE's check: the whole-conversation render equals its messages rendered one by one.
TEST(HarmonyRender, WholeRenderEqualsMessagesRenderedAlone) {
  RenderOptions o;
  o.pipeline_rules = false;
  o.append_eod = false;
  o.training = false;
  const auto whole = nlohmann::json::parse(kConversation);
  Ids joined;
  for (const auto& m : whole["messages"]) {
    const auto one = tokenizer().render_conversation(
        nlohmann::json{{"messages", nlohmann::json::array({m})}}.dump(), o);
    joined.insert(joined.end(), one.tokens.begin(), one.tokens.end());
  }
  EXPECT_EQ(tokenizer().render_conversation(kConversation, o).tokens, joined);
}

TEST(HarmonyRender, ReturnOnlyWhenTheLastMessageIsAFinalAnswer) {
  const std::string ends_in_analysis = R"({"messages": [{"role": "user", "content": "hi"},
    {"role": "assistant", "channel": "analysis", "content": "hmm"}]})";
  auto r = tokenizer().render_conversation(ends_in_analysis, RenderOptions{});
  EXPECT_EQ(r.tokens[r.tokens.size() - 2], kEnd);
  RenderOptions no_training;
  no_training.training = false;
  r = tokenizer().render_conversation(kConversation, no_training);
  EXPECT_EQ(r.tokens[r.tokens.size() - 2], kEnd);
  RenderOptions no_eod;
  no_eod.append_eod = false;
  r = tokenizer().render_conversation(kConversation, no_eod);
  EXPECT_EQ(r.tokens.back(), kReturn);
}

TEST(HarmonyRender, EachPieceIsEncodedOnItsOwn) {
  // " to=" and the channel name are separate pieces: merged text would tokenize differently.
  RenderOptions o;
  o.pipeline_rules = false;
  const auto r = tokenizer().render_conversation(
      R"({"messages": [{"role": "assistant", "recipient": "functions.f", "channel": "commentary",
          "content_type": "<|constrain|>json", "content": "{}"}]})",
      o);
  const auto& tok = tokenizer();
  const Ids want = concat({{kStart},
                           tok.encode_ordinary("assistant"),
                           tok.encode_ordinary(" to=functions.f"),
                           {kChannel},
                           tok.encode_ordinary("commentary"),
                           tok.encode_ordinary(" "),
                           {kConstrain},
                           tok.encode_ordinary("json"),
                           {kMessage},
                           tok.encode_ordinary("{}"),
                           {kCall, kEndOfText}});
  EXPECT_EQ(r.tokens, want);
}

TEST(HarmonyRender, SystemContentDefaultsAndNulls) {
  RenderOptions o;
  o.pipeline_rules = false;
  o.append_eod = false;
  const auto r = tokenizer().render_conversation(
      R"({"messages": [{"role": "system", "content": [{"type": "system_content",
          "model_identity": null, "knowledge_cutoff": null, "reasoning_effort": "HIGH",
          "channel_config": null}]}]})",
      o);
  EXPECT_EQ(tokenizer().decode_text(r.tokens), "<|start|>system<|message|>Reasoning: high<|end|>");
}

std::string render_error(const std::string& json, bool pipeline_rules = true) {
  RenderOptions o;
  o.pipeline_rules = pipeline_rules;
  try {
    tokenizer().render_conversation(json, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HarmonyRender, InvalidConversationsNameTheMessage) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"messages": []})", "message list is empty"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]})",
       "message 1: role \"robot\" is not one of"},
      {R"({"messages": [{"role": "user", "channel": "final", "content": "x"}]})",
       "message 0: a user message cannot have a channel"},
      {R"({"messages": [{"role": "user", "content": [{"type": "system_content"}]}]})",
       "message 0: content part 0: system_content belongs in a system message"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "message 0: \"content\" must be"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "message 0: a tool message needs"},
      {R"({"messages": [{"role": "system", "content": [{"type": "system_content",
          "reasoning_effort": "max"}]}]})",
       "message 0: \"reasoning_effort\" must be low, medium or high"},
      {R"({"messages": {}})", "expected an object with a \"messages\" list"},
      {"not json", "not valid JSON"},
  };
  for (const auto& [json, want] : cases) {
    const std::string msg = render_error(json, false);
    EXPECT_NE(msg.find(want), std::string::npos) << json << "\n" << msg;
  }
}

TEST(HarmonyRender, VpmoePipelineRules) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"messages": [{"role": "user", "content": "x"}]})", "at least one assistant message"},
      {R"({"messages": [{"role": "user", "content": "x"},
          {"role": "assistant", "channel": "commentary", "content": "y"}]})",
       "message 1: an assistant message needs channel \"analysis\" or \"final\""},
      {R"({"messages": [{"role": "user", "content": "x"},
          {"role": "assistant", "content": "y"}]})",
       "message 1: an assistant message needs channel"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant",
          "channel": "final", "recipient": "functions.f", "content": "y"}]})",
       "message 1: a recipient (tool call) is not allowed"},
      {R"({"messages": [{"role": "tool", "name": "browser.search", "content": "x"}]})",
       "message 0: role \"tool\" is not allowed in training data"},
  };
  for (const auto& [json, want] : cases) {
    const std::string msg = render_error(json);
    EXPECT_NE(msg.find(want), std::string::npos) << json << "\n" << msg;
  }
  // Without the pipeline rules the same conversations render.
  EXPECT_EQ(render_error(R"({"messages": [{"role": "user", "content": "x"}]})", false),
            "(no error)");
}

TEST(HarmonyRender, AnalysisIsKeptForTrainingAndDroppedOnlyWhenAsked) {
  const std::string conv = R"({"messages": [{"role": "user", "content": "q"},
    {"role": "assistant", "channel": "analysis", "content": "think"},
    {"role": "assistant", "channel": "final", "content": "a"}]})";
  const auto kept = tokenizer().render_conversation(conv, RenderOptions{});
  EXPECT_NE(tokenizer().decode_bytes(kept.tokens).find("think"), std::string::npos);
  RenderOptions drop;
  drop.drop_analysis = true;
  const auto dropped = tokenizer().render_conversation(conv, drop);
  EXPECT_EQ(tokenizer().decode_bytes(dropped.tokens).find("think"), std::string::npos);
}

}  // namespace
}  // namespace vpmoe::o200k::test
