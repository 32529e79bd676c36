// The plugin file as the host sees it: loaded by the plugin loader, built from run.toml.
#include <gtest/gtest.h>

#include "fixture.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/registry.h"

namespace vpmoe::o200k::test {
namespace {

Registry& registry() {
  static Registry reg = [] {
    Registry r;
    const auto report = load_plugins({VPMOE_O200K_PLUGIN}, r);
    EXPECT_TRUE(report.errors.empty()) << report.errors.front().message;
    return r;
  }();
  return reg;
}

Config config_with(const std::string& tokenizer_section) {
  return parse_config("[run]\nmodel_config = \"" + source_path("configs/vpmoe_dev.toml") +
                          "\"\n[tokenizer]\n" + tokenizer_section,
                      source_path("configs/run.toml"));
}

TEST(Plugin, BuildsFromRunToml) {
  const Config cfg =
      config_with("path = \"" + source_path("data/tokenizer/o200k_base.tiktoken") + "\"\n");
  BuildArgs args;
  args.config = &cfg;
  auto tok = registry().create<Tokenizer>("tokenizer.o200k_harmony", args);
  EXPECT_EQ(tok->identity().asset_sha256, kAssetSha256);
  EXPECT_EQ(tok->encode_ordinary("hello world"), tokenizer().encode_ordinary("hello world"));
}

// The message of building the tokenizer from this [tokenizer] section, which must fail.
std::string build_error(const std::string& tokenizer_section) {
  const Config cfg = config_with(tokenizer_section);
  BuildArgs args;
  args.config = &cfg;
  try {
    registry().create<Tokenizer>("tokenizer.o200k_harmony", args);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Plugin, AnyOtherVocabularySizeFailsAtStartUp) {
  const std::string msg = build_error("vocab_size = 200064\npath = \"" +
                                      source_path("data/tokenizer/o200k_base.tiktoken") + "\"\n");
  EXPECT_NE(msg.find("run.toml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[tokenizer].vocab_size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("201088"), std::string::npos) << msg;
}

TEST(Plugin, AssetPathComesFromTheConfig) {
  const std::string msg = build_error("path = \"/nowhere/o200k_base.tiktoken\"\n");
  EXPECT_NE(msg.find("/nowhere/o200k_base.tiktoken"), std::string::npos) << msg;
}

}  // namespace
}  // namespace vpmoe::o200k::test
