// render_harmony against a fake tokenizer that records every encode_ordinary call: shows
// exactly which text pieces are encoded on their own (spec/tokenizer.md §5) and which
// tokens are specials, independently of the BPE.
#include <gtest/gtest.h>

#include "harmony/render.h"
#include "o200k_tokenizer.h"
#include "specials.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::test {
namespace {

// One id per byte; specials keep their o200k ids, so the two never collide.
class PieceTokenizer final : public Tokenizer {
 public:
  mutable std::vector<std::string> pieces;

  std::vector<std::int32_t> encode_ordinary(std::string_view text) const override {
    pieces.emplace_back(text);
    return {text.begin(), text.end()};
  }
  std::vector<std::int32_t> encode(std::string_view, std::span<const std::string>) const override {
    throw Error("PieceTokenizer: render_harmony must not encode with specials");
  }
  std::string decode_bytes(std::span<const std::int32_t>) const override { return {}; }
  std::optional<std::int32_t> special_token(std::string_view) const override { return {}; }
  std::int64_t vocab_size() const override { return kVocabSize; }
  std::int32_t eod_id() const override { return kEndOfText; }
  TokenizerIdentity identity() const override { return {"test.pieces", "", kVocabSize}; }
};

std::string special_name(std::int32_t id) {
  return std::string(special_tokens().text_of(id));
}

// The render as items: a special's name, or a text piece in quotes; each item with the
// mask and span of its tokens (which must agree within the item).
struct Item {
  std::string what;
  int mask, span;
  bool operator==(const Item&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Item& i) {
  return o << i.what << " m" << i.mask << " s" << i.span;
}

std::vector<Item> items(const PieceTokenizer& tok, const RenderedConversation& r) {
  EXPECT_EQ(r.loss_mask.size(), r.tokens.size());
  EXPECT_EQ(r.span.size(), r.tokens.size());
  std::vector<Item> out;
  std::size_t piece = 0;
  for (std::size_t t = 0; t < r.tokens.size();) {
    if (r.tokens[t] >= kNumRanks) {
      out.push_back({special_name(r.tokens[t]), r.loss_mask[t], r.span[t]});
      ++t;
      continue;
    }
    // Empty pieces add no tokens: skip them as the renderer might or might not encode them.
    while (piece < tok.pieces.size() && tok.pieces[piece].empty()) ++piece;
    EXPECT_LT(piece, tok.pieces.size()) << "token " << t << " has no recorded piece";
    if (piece >= tok.pieces.size()) break;
    const std::string& p = tok.pieces[piece++];
    for (std::size_t k = 1; k < p.size(); ++k) {
      EXPECT_EQ(r.loss_mask[t + k], r.loss_mask[t]) << p;
      EXPECT_EQ(r.span[t + k], r.span[t]) << p;
    }
    out.push_back({"'" + p + "'", r.loss_mask[t], r.span[t]});
    t += p.size();
  }
  return out;
}

RenderOptions loose() {
  RenderOptions o;
  o.pipeline_rules = false;
  return o;
}

TEST(HarmonyPieces, HeaderPartsAreSeparatePieces) {
  PieceTokenizer tok;
  const auto r = render_harmony(tok, R"({"messages": [
    {"role": "user", "name": "ana", "content": [{"type": "text", "text": "a"},
                                                {"type": "text", "text": "b"}]},
    {"role": "assistant", "recipient": "functions.f", "channel": "commentary",
     "content_type": "<|constrain|>json", "content": "{}"},
    {"role": "tool", "name": "functions.f", "recipient": "assistant", "channel": "commentary",
     "content": "42"},
    {"role": "assistant", "channel": "final", "content_type": "code", "content": "ok"}]})",
                                loose());
  // clang-format off
  const std::vector<Item> want = {
      {"<|start|>", 0, 0}, {"'user'", 0, 0}, {"':ana'", 0, 0}, {"<|message|>", 0, 0},
      {"'a'", 0, 0}, {"'b'", 0, 0}, {"<|end|>", 0, 0},
      // A tool call: trained on (mask 1) but neither analysis nor final (span 0).
      {"<|start|>", 1, 0}, {"'assistant'", 1, 0}, {"' to=functions.f'", 1, 0},
      {"<|channel|>", 1, 0}, {"'commentary'", 1, 0}, {"' '", 1, 0}, {"<|constrain|>", 1, 0},
      {"'json'", 1, 0}, {"<|message|>", 1, 0}, {"'{}'", 1, 0}, {"<|call|>", 1, 0},
      // The tool's answer is prompt.
      {"<|start|>", 0, 0}, {"'functions.f'", 0, 0}, {"' to=assistant'", 0, 0},
      {"<|channel|>", 0, 0}, {"'commentary'", 0, 0}, {"<|message|>", 0, 0}, {"'42'", 0, 0},
      {"<|end|>", 0, 0},
      // The final answer, last: <|return|>; then EOD, masked out.
      {"<|start|>", 1, 2}, {"'assistant'", 1, 2}, {"<|channel|>", 1, 2}, {"'final'", 1, 2},
      {"' code'", 1, 2}, {"<|message|>", 1, 2}, {"'ok'", 1, 2}, {"<|return|>", 1, 2},
      {"<|endoftext|>", 0, 0},
  };
  // clang-format on
  EXPECT_EQ(items(tok, r), want);
}

TEST(HarmonyPieces, SystemAndDeveloperContentAreOnePieceEach) {
  PieceTokenizer tok;
  RenderOptions o = loose();
  o.append_eod = false;
  const auto r = render_harmony(tok, R"({"messages": [
    {"role": "system", "content": [{"type": "system_content", "model_identity": "M",
      "knowledge_cutoff": null, "reasoning_effort": "Low", "channel_config": null}]},
    {"role": "developer", "content": [{"type": "developer_content", "instructions": "I"}]},
    {"role": "assistant", "channel": "analysis", "content": "t"}]})",
                                o);
  // clang-format off
  const std::vector<Item> want = {
      {"<|start|>", 0, 0}, {"'system'", 0, 0}, {"<|message|>", 0, 0},
      {"'M\n\nReasoning: low'", 0, 0}, {"<|end|>", 0, 0},
      {"<|start|>", 0, 0}, {"'developer'", 0, 0}, {"<|message|>", 0, 0},
      {"'# Instructions\n\nI'", 0, 0}, {"<|end|>", 0, 0},
      // Analysis last: <|end|>; <|return|> follows only a final answer.
      {"<|start|>", 1, 1}, {"'assistant'", 1, 1}, {"<|channel|>", 1, 1}, {"'analysis'", 1, 1},
      {"<|message|>", 1, 1}, {"'t'", 1, 1}, {"<|end|>", 1, 1},
  };
  // clang-format on
  EXPECT_EQ(items(tok, r), want);
}

TEST(HarmonyPieces, CompletionPromptAndDroppedAnalysis) {
  PieceTokenizer tok;
  RenderOptions o = loose();
  o.training = false;
  o.append_eod = false;
  o.completion = true;
  o.drop_analysis = true;
  const auto r = render_harmony(tok, R"({"messages": [{"role": "user", "content": "q"},
    {"role": "assistant", "channel": "analysis", "content": "t"},
    {"role": "assistant", "channel": "final", "content": "a"}]})",
                                o);
  // clang-format off
  const std::vector<Item> want = {
      {"<|start|>", 0, 0}, {"'user'", 0, 0}, {"<|message|>", 0, 0}, {"'q'", 0, 0},
      {"<|end|>", 0, 0},
      // The analysis before the first final answer is gone; no <|return|> outside training.
      {"<|start|>", 1, 2}, {"'assistant'", 1, 2}, {"<|channel|>", 1, 2}, {"'final'", 1, 2},
      {"<|message|>", 1, 2}, {"'a'", 1, 2}, {"<|end|>", 1, 2},
      // The prompt for the next turn.
      {"<|start|>", 0, 0}, {"'assistant'", 0, 0},
  };
  // clang-format on
  EXPECT_EQ(items(tok, r), want);
}

}  // namespace
}  // namespace vpmoe::o200k::test
