// The o200k_harmony special-token table and tiktoken's rules for special text.
#include <gtest/gtest.h>

#include "fixture.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::test {
namespace {

using Ids = std::vector<std::int32_t>;
const std::vector<std::string> kAll{"all"};

TEST(Specials, TableAndVocabulary) {
  const auto& tok = tokenizer();
  EXPECT_EQ(tok.vocab_size(), 201088);
  EXPECT_EQ(tok.eod_id(), 199999);
  const std::pair<const char*, int> named[] = {
      {"<|startoftext|>", 199998},     {"<|endoftext|>", 199999},
      {"<|reserved_200000|>", 200000}, {"<|reserved_200001|>", 200001},
      {"<|return|>", 200002},          {"<|constrain|>", 200003},
      {"<|reserved_200004|>", 200004}, {"<|channel|>", 200005},
      {"<|start|>", 200006},           {"<|end|>", 200007},
      {"<|message|>", 200008},         {"<|reserved_200009|>", 200009},
      {"<|reserved_200011|>", 200011}, {"<|call|>", 200012},
      {"<|reserved_200013|>", 200013}, {"<|endofprompt|>", 200018},
      {"<|reserved_200018|>", 200018}, {"<|reserved_201087|>", 201087}};
  for (auto [text, id] : named) {
    EXPECT_EQ(tok.special_token(text), id) << text;
    EXPECT_EQ(tok.encode(text, kAll), Ids{id}) << text;
  }
  EXPECT_FALSE(tok.special_token("<|reserved_201088|>"));
  EXPECT_FALSE(tok.special_token("<|reserved_199999|>"));
  EXPECT_EQ(tok.decode_bytes(Ids{200018}), "<|reserved_200018|>");
}

TEST(Specials, EveryIdDecodesAndSpecialIdsEncodeBack) {
  const auto& tok = tokenizer();
  for (std::int32_t id = 0; id < 201088; ++id) {
    const std::string bytes = tok.decode_bytes(Ids{id});
    ASSERT_FALSE(bytes.empty()) << id;
    if (id >= 199998) ASSERT_EQ(tok.encode(bytes, kAll), Ids{id}) << bytes;
  }
}

TEST(Specials, OutOfVocabularyIdsAreErrors) {
  for (std::int32_t id : {201088, 250000, -1}) {
    try {
      tokenizer().decode_bytes(Ids{1, id});
      ADD_FAILURE() << id;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(id) + " at position 1"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Specials, OrdinaryEncodingTreatsSpecialTextAsText) {
  const Ids ids = tokenizer().encode_ordinary("<|start|>");
  EXPECT_GT(ids.size(), 1u);
  for (auto id : ids) EXPECT_LT(id, 199998);
  EXPECT_EQ(tokenizer().decode_bytes(ids), "<|start|>");
}

TEST(Specials, DisallowedSpecialTextIsRefused) {
  const auto& tok = tokenizer();
  try {
    tok.encode("hi <|end|> there", {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("<|end|>"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at byte 3"), std::string::npos) << msg;
  }
  const std::vector<std::string> start_only{"<|start|>"};
  EXPECT_THROW(tok.encode("<|start|>x<|end|>", start_only), Error);
  const Ids ids = tok.encode("<|start|>user", start_only);
  EXPECT_EQ(ids.front(), 200006);
  EXPECT_EQ(Ids(ids.begin() + 1, ids.end()), tok.encode_ordinary("user"));
  // Text without any special text encodes the same whatever is allowed.
  EXPECT_EQ(tok.encode("plain <| text |>", {}), tok.encode_ordinary("plain <| text |>"));
  const std::vector<std::string> bogus{"<|nope|>"};
  EXPECT_THROW(tok.encode("x", bogus), Error);
}

TEST(Specials, StretchesBetweenSpecialsAreEncodedOnTheirOwn) {
  const auto& tok = tokenizer();
  // Without the split, " hello" would be one piece with the leading space.
  const Ids ids = tok.encode("a<|end|> hello", kAll);
  Ids want = tok.encode_ordinary("a");
  want.push_back(200007);
  for (auto id : tok.encode_ordinary(" hello")) want.push_back(id);
  EXPECT_EQ(ids, want);
}

// The special search looks for "|>" only within the longest name, so this stays linear.
TEST(Specials, ManyOpeningMarksStayLinear) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "<|";
  text += "x|><|end|>";
  const Ids ids = tokenizer().encode(text, kAll);
  EXPECT_EQ(ids.back(), 200007);
  EXPECT_EQ(tokenizer().decode_bytes(ids), text);
}

}  // namespace
}  // namespace vpmoe::o200k::test
