// UTF-8 handling, round trips, and the asset check.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "asset.h"
#include "fixture.h"
#include "vpmoe/error.h"
#include "vpmoe/utf8.h"

namespace vpmoe::o200k::test {
namespace {

std::string message_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Text, InvalidUtf8NamesTheByteOffset) {
  const std::string bad = std::string("abc\xC3(") + "def";
  EXPECT_NE(message_of([&] { tokenizer().encode_ordinary(bad); }).find("invalid UTF-8 at byte 3"),
            std::string::npos);
  EXPECT_NE(
      message_of([&] { tokenizer().encode(std::string("ok \xED\xA0\x80"), {}); }).find("at byte 3"),
      std::string::npos);  // a surrogate
  // The explicit lossy path: replacement, then encoding.
  const std::string fixed = utf8_lossy(bad);
  EXPECT_EQ(fixed, "abc\xEF\xBF\xBD(def");
  EXPECT_EQ(tokenizer().decode_text(tokenizer().encode_ordinary(fixed)), fixed);
}

TEST(Text, DecodeToTextChecksUtf8OrReplaces) {
  // A token sequence that stops inside a multi-byte character: a rare character that BPE
  // splits into byte tokens.
  std::vector<std::int32_t> partial;
  for (const char* rare : {"\xF0\xA0\x80\x8B", "\xF0\x9D\x84\x9E", "\xF0\x91\x80\x80"}) {
    const auto ids = tokenizer().encode_ordinary(rare);
    if (ids.size() > 1) {
      partial.assign(ids.begin(), ids.end() - 1);
      break;
    }
  }
  ASSERT_FALSE(partial.empty()) << "every candidate is a single token";
  ASSERT_TRUE(utf8_first_invalid(tokenizer().decode_bytes(partial)));
  EXPECT_NE(message_of([&] { tokenizer().decode_text(partial); }).find("invalid UTF-8 at byte"),
            std::string::npos);
  EXPECT_NE(tokenizer().decode_text(partial, true).find("\xEF\xBF\xBD"), std::string::npos);
}

// Random text over the characters that stress the pre-tokenizer.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> atoms = {"a",
                                                 "Z",
                                                 "é",
                                                 "É",
                                                 "ǅ",
                                                 "ʰ",
                                                 "\xCC\x81",
                                                 "中",
                                                 "ا",
                                                 "ß",
                                                 "1",
                                                 "٣",
                                                 "½",
                                                 "Ⅻ",
                                                 " ",
                                                 "  ",
                                                 "\t",
                                                 "\n",
                                                 "\r\n",
                                                 "\xE3\x80\x80",
                                                 "\xC2\xA0",
                                                 "'",
                                                 "'s",
                                                 "'LL",
                                                 "!",
                                                 "/",
                                                 "...",
                                                 "<|",
                                                 "|>",
                                                 "<|end|>",
                                                 "<|endoftext|>",
                                                 "😀",
                                                 "\xF0\x90\x8D\x88",
                                                 "_",
                                                 "-",
                                                 "::",
                                                 "{}"};
  std::uniform_int_distribution<std::size_t> pick(0, atoms.size() - 1), len(0, 40);
  std::string t;
  for (std::size_t i = 0, n = len(rng); i < n; ++i) t += atoms[pick(rng)];
  return t;
}

TEST(Text, RoundTripsInBothModes) {
  std::mt19937 rng(20261122);
  const std::vector<std::string> all{"all"};
  for (int i = 0; i < 5000; ++i) {
    const std::string t = random_text(rng);
    ASSERT_EQ(tokenizer().decode_text(tokenizer().encode_ordinary(t)), t);
    ASSERT_EQ(tokenizer().decode_text(tokenizer().encode(t, all)), t);
  }
}

TEST(Asset, MissingFileIsNamed) {
  const std::string msg = message_of([] { O200kHarmony::load("/nonexistent/o200k.tiktoken"); });
  EXPECT_NE(msg.find("/nonexistent/o200k.tiktoken"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fetch-tokenizer.sh"), std::string::npos) << msg;
}

TEST(Asset, OneChangedByteIsRefusedWithBothHashes) {
  std::ifstream in(source_path("data/tokenizer/o200k_base.tiktoken"), std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string bytes = buf.str();
  bytes[bytes.size() / 2] ^= 1;
  const auto path = std::filesystem::temp_directory_path() / "vpmoe_o200k_changed.tiktoken";
  std::ofstream(path, std::ios::binary) << bytes;
  const std::string msg = message_of([&] { O200kHarmony::load(path.string()); });
  std::filesystem::remove(path);
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find(kAssetSha256), std::string::npos) << msg;
  EXPECT_NE(msg.find(sha256_hex(bytes)), std::string::npos) << msg;
}

TEST(Asset, IdentityForCheckpoints) {
  const auto id = tokenizer().identity();
  EXPECT_EQ(id.name, "tokenizer.o200k_harmony");
  EXPECT_EQ(id.asset_sha256, kAssetSha256);
  EXPECT_EQ(id.vocab_size, 201088);
}

}  // namespace
}  // namespace vpmoe::o200k::test
