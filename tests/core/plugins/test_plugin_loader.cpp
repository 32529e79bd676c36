// The loader against deliberately broken plugins: one clear error each, the good one loads.
#include <gtest/gtest.h>

#include <filesystem>

#include "registry/plugin_loader.h"
#include "test_plugins/trivial_positional.h"
#include "vpmoe/plugin.h"

namespace vpmoe {
namespace {

namespace fs = std::filesystem;

std::string plugin(const std::string& name) {
  return fs::canonical(fs::path(VPMOE_TEST_PLUGIN_DIR) / (name + ".so")).string();
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Loads good.so plus `other`; the good one must load whatever the other one is.
PluginLoadReport load_with_good(const std::string& other, Registry& reg) {
  auto report = load_plugins({plugin("good"), other}, reg);
  EXPECT_TRUE(reg.contains("positional.test_good"));
  EXPECT_TRUE(reg.contains("positional.test_good_too"));
  EXPECT_FALSE(report.loaded.empty());
  if (!report.loaded.empty()) EXPECT_EQ(report.loaded[0].file, plugin("good"));
  return report;
}

PluginLoadError only_error(const PluginLoadReport& r) {
  EXPECT_EQ(r.errors.size(), 1u);
  return r.errors.empty() ? PluginLoadError{"(none)", "(none)"} : r.errors[0];
}

TEST(PluginLoader, GoodPluginLoadsWithAttribution) {
  Registry reg;
  auto report = load_plugins({plugin("good")}, reg);
  EXPECT_TRUE(report.errors.empty());
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_EQ(report.loaded[0].name, "test_good");
  EXPECT_EQ(report.loaded[0].version, "1.2.3");
  EXPECT_EQ(report.loaded[0].names,
            (std::vector<std::string>{"positional.test_good", "positional.test_good_too"}));
  for (const auto& e : reg.entries()) {
    EXPECT_EQ(e.file, plugin("good"));
    EXPECT_EQ(e.plugin, "test_good");
    EXPECT_EQ(e.version, "1.2.3");
    EXPECT_EQ(e.kind, "positional");
  }
  auto p = reg.create<Positional>("positional.test_good", BuildArgs{});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->spec_name(), "positional.test_good");
  EXPECT_EQ(p->type(), Positional::Type::none);
}

TEST(PluginLoader, MissingPath) {
  Registry reg;
  std::string missing = std::string(VPMOE_TEST_PLUGIN_DIR) + "/does_not_exist.so";
  auto e = only_error(load_with_good(missing, reg));
  EXPECT_EQ(e.file, missing);
  EXPECT_TRUE(has(e.message, "no such file or directory")) << e.message;
  EXPECT_TRUE(has(e.message, "expected a plugin shared library")) << e.message;
}

TEST(PluginLoader, NotASharedLibrary) {
  Registry reg;
  auto e = only_error(load_with_good(plugin("not_a_library"), reg));
  EXPECT_EQ(e.file, plugin("not_a_library"));
  EXPECT_TRUE(has(e.message, "not a loadable shared library")) << e.message;
  EXPECT_TRUE(has(e.message, "dlopen said:")) << e.message;
  EXPECT_TRUE(has(e.message, "not_a_library.so")) << e.message;  // dlerror's own text
}

TEST(PluginLoader, NoEntryPoint) {
  Registry reg;
  auto e = only_error(load_with_good(plugin("no_entry"), reg));
  EXPECT_EQ(e.file, plugin("no_entry"));
  EXPECT_TRUE(has(e.message, "without the vpmoe entry point")) << e.message;
  EXPECT_TRUE(has(e.message, "vpmoe_plugin_v1")) << e.message;
}

TEST(PluginLoader, WrongAbiVersionNamesBoth) {
  Registry reg;
  auto e = only_error(load_with_good(plugin("wrong_abi"), reg));
  EXPECT_EQ(e.file, plugin("wrong_abi"));
  EXPECT_TRUE(has(e.message, "plugin ABI version 999")) << e.message;
  EXPECT_TRUE(has(e.message, "host's " + std::to_string(abi_version()))) << e.message;
}

TEST(PluginLoader, WrongBuildTagNamesBoth) {
  Registry reg;
  auto e = only_error(load_with_good(plugin("wrong_tag"), reg));
  EXPECT_EQ(e.file, plugin("wrong_tag"));
  EXPECT_TRUE(has(e.message, "build tag 'bogus-tag'")) << e.message;
  EXPECT_TRUE(has(e.message, std::string("host's '") + build_tag() + "'")) << e.message;
}

TEST(PluginLoader, ThrowingRegistrationAddsNothing) {
  Registry reg;
  auto report = load_with_good(plugin("throws"), reg);
  auto e = only_error(report);
  EXPECT_EQ(e.file, plugin("throws"));
  EXPECT_TRUE(has(e.message, "deliberate failure in register_throws")) << e.message;
  EXPECT_TRUE(has(e.message, "test_throws")) << e.message;
  EXPECT_FALSE(reg.contains("positional.test_throws_partial"));
  EXPECT_EQ(report.loaded.size(), 1u);
}

TEST(PluginLoader, DuplicateNameRefusedRestLoads) {
  Registry reg;
  auto report = load_with_good(plugin("z_duplicate"), reg);
  auto e = only_error(report);
  EXPECT_EQ(e.file, plugin("z_duplicate"));
  EXPECT_TRUE(has(e.message, "positional.test_good")) << e.message;
  EXPECT_TRUE(has(e.message, plugin("good"))) << e.message;
  EXPECT_TRUE(has(e.message, plugin("z_duplicate"))) << e.message;
  ASSERT_TRUE(reg.contains("positional.test_dup_extra"));
  for (const auto& en : reg.entries()) {
    if (en.name == "positional.test_good") EXPECT_EQ(en.file, plugin("good"));
    if (en.name == "positional.test_dup_extra") EXPECT_EQ(en.plugin, "test_duplicate");
  }
  ASSERT_EQ(report.loaded.size(), 2u);
  EXPECT_EQ(report.loaded[1].names, std::vector<std::string>{"positional.test_dup_extra"});
}

TEST(PluginLoader, SearchPathOrderDecidesWhoWins) {
  Registry reg;
  auto report = load_plugins({plugin("z_duplicate"), plugin("good")}, reg);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].file, plugin("good"));
  for (const auto& en : reg.entries())
    if (en.name == "positional.test_good") EXPECT_EQ(en.file, plugin("z_duplicate"));
}

TEST(PluginLoader, DirectoryScanLoadsGoodOnesAndReportsEachBadFile) {
  Registry reg;
  auto report = load_plugins({VPMOE_TEST_PLUGIN_DIR, plugin("good")}, reg);  // good.so once
  std::vector<std::string> files;
  for (const auto& e : report.errors) files.push_back(fs::path(e.file).filename().string());
  EXPECT_EQ(files, (std::vector<std::string>{"no_entry.so", "not_a_library.so", "throws.so",
                                             "wrong_abi.so", "wrong_tag.so", "z_duplicate.so"}));
  ASSERT_EQ(report.loaded.size(), 2u);
  EXPECT_EQ(report.loaded[0].name, "test_good");
  EXPECT_EQ(report.loaded[1].name, "test_duplicate");
  EXPECT_TRUE(reg.contains("positional.test_good"));
  EXPECT_TRUE(reg.contains("positional.test_dup_extra"));
}

TEST(PluginLoader, UnknownNameExplainsFailedFiles) {
  Registry reg;
  load_plugins({plugin("good"), plugin("wrong_abi"), plugin("throws")}, reg);
  std::string msg;
  try {
    reg.create<Positional>("positional.test_throws_partial", BuildArgs{});
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_TRUE(has(msg, "positional.test_good, positional.test_good_too")) << msg;
  EXPECT_TRUE(has(msg, plugin("wrong_abi") + ": plugin ABI version 999")) << msg;
  EXPECT_TRUE(has(msg, plugin("throws") + ": plugin 'test_throws' threw")) << msg;
}

TEST(PluginLoader, HostIdentity) {
  EXPECT_EQ(abi_version(), VPMOE_ABI_VERSION);
  EXPECT_STREQ(build_tag(), VPMOE_BUILD_TAG);
  EXPECT_TRUE(has(build_tag(), std::string("vpmoe-") + VPMOE_VERSION));
}

}  // namespace
}  // namespace vpmoe
