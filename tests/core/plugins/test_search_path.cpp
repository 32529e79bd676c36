// Search path order: --plugin-path, [plugins] paths, VPMOE_PLUGIN_PATH, the install dir.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>

#include "registry/plugin_loader.h"

namespace vpmoe {
namespace {

namespace fs = std::filesystem;

struct EnvGuard {
  explicit EnvGuard(const char* value) {
    if (value)
      setenv("VPMOE_PLUGIN_PATH", value, 1);
    else
      unsetenv("VPMOE_PLUGIN_PATH");
  }
  ~EnvGuard() { unsetenv("VPMOE_PLUGIN_PATH"); }
};

// <dir of this test binary>/../lib/vpmoe/plugins, created so that it must be on the path.
std::string install_dir() {
  fs::path dir =
      fs::read_symlink("/proc/self/exe").parent_path() / ".." / "lib" / "vpmoe" / "plugins";
  fs::create_directories(dir);
  return fs::canonical(dir).string();
}

TEST(SearchPath, OrderCliConfigEnvInstall) {
  EnvGuard env("/env/a::/env/b");  // empty entries are ignored
  auto inst = install_dir();
  auto path = plugin_search_path({"/cli/1", "/cli/2"}, {"/cfg/1"});
  ASSERT_GE(path.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(path.begin(), path.begin() + 5),
            (std::vector<std::string>{"/cli/1", "/cli/2", "/cfg/1", "/env/a", "/env/b"}));
  EXPECT_EQ(path[5], inst);
  EXPECT_EQ(std::count(path.begin(), path.end(), inst), 1);
}

TEST(SearchPath, NoEnvMeansOnlyTheRest) {
  EnvGuard env(nullptr);
  auto path = plugin_search_path({}, {"/cfg/x"});
  ASSERT_GE(path.size(), 1u);
  EXPECT_EQ(path[0], "/cfg/x");
  for (std::size_t i = 1; i < path.size(); ++i) EXPECT_TRUE(fs::is_directory(path[i])) << path[i];
}

TEST(SearchPath, EnvPluginsAreLoaded) {
  std::string good = std::string(VPMOE_TEST_PLUGIN_DIR) + "/good.so";
  EnvGuard env(good.c_str());
  Registry reg;
  auto report = load_plugins(plugin_search_path({}, {}), reg);
  EXPECT_TRUE(reg.contains("positional.test_good"));
  bool found = false;
  for (const auto& l : report.loaded) found = found || l.name == "test_good";
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace vpmoe
