// The plugin search path: --plugin-path, [plugins] paths, VPMOE_PLUGIN_PATH, the install dir.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/dll/runtime_symbol_info.hpp>

#include "registry/plugin_loader.h"

namespace vpmoe {
namespace {

namespace fs = std::filesystem;

void add_env_paths(std::vector<std::string>& out) {
  const char* env = std::getenv("VPMOE_PLUGIN_PATH");
  if (!env) return;
  std::string s(env);
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));  // empty entries mean nothing
    start = end + 1;
  }
}

// <prefix>/lib/vpmoe/plugins for the running executable's prefix (build/bin -> build/lib/...),
// and next to libvpmoe_core itself, which covers a multiarch libdir such as lib/x86_64-linux-gnu.
void add_install_dirs(std::vector<std::string>& out) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / ".." / "lib" / "vpmoe" / "plugins");
  boost::dll::fs::error_code bec;
  auto core = boost::dll::this_line_location(bec);
  if (!bec) candidates.push_back(fs::path(core.parent_path().string()) / "vpmoe" / "plugins");
  std::vector<fs::path> seen;
  for (const auto& c : candidates) {
    if (!fs::is_directory(c, ec)) continue;  // an install without plugins is fine
    fs::path canon = fs::canonical(c, ec);
    if (ec) continue;
    bool dup = false;
    for (const auto& s : seen) dup = dup || s == canon;
    if (dup) continue;
    seen.push_back(canon);
    out.push_back(canon.string());
  }
}

}  // namespace

std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_paths,
                                            const std::vector<std::string>& config_paths) {
  std::vector<std::string> out = cli_paths;
  out.insert(out.end(), config_paths.begin(), config_paths.end());
  add_env_paths(out);
  add_install_dirs(out);
  return out;
}

}  // namespace vpmoe
