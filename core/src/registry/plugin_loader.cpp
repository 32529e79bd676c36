// Loads plugin files with Boost.DLL, checks their descriptor and lets them register.
#include "registry/plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include <boost/dll/shared_library.hpp>

#include "vpmoe/plugin.h"

namespace vpmoe {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEntrySymbol = "vpmoe_plugin_v1";

// Libraries are never unloaded: factories and the objects they built run plugin code, and
// registries may outlive any scope we could tie a handle to (even static destructors).
void keep_loaded(boost::dll::shared_library&& lib) {
  static std::mutex mu;
  static auto* libs = new std::vector<boost::dll::shared_library>();
  std::lock_guard<std::mutex> lock(mu);
  libs->push_back(std::move(lib));
}

// Expands the search path into candidate files, in order, without duplicates. Entries that
// do not exist become errors; directories give their *.so files sorted by name.
std::vector<std::string> expand(const std::vector<std::string>& search_path,
                                std::vector<PluginLoadError>& errors) {
  std::vector<std::string> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    fs::path canon = fs::canonical(p, ec);
    if (ec) canon = fs::absolute(p, ec).lexically_normal();
    if (seen.insert(canon).second) files.push_back(canon.string());
  };
  for (const auto& entry : search_path) {
    std::error_code ec;
    fs::path p(entry);
    if (!fs::exists(p, ec)) {
      errors.push_back({entry,
                        "no such file or directory; expected a plugin shared library "
                        "(.so) or a directory of them"});
      continue;
    }
    if (!fs::is_directory(p, ec)) {
      add(p);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& de : fs::directory_iterator(p, ec)) {
      std::error_code file_ec;  // a dangling link is skipped, not a listing error
      if (de.path().extension() == ".so" && de.is_regular_file(file_ec)) found.push_back(de.path());
    }
    if (ec) errors.push_back({entry, "cannot list the directory: " + ec.message()});
    std::sort(found.begin(), found.end());
    for (const auto& f : found) add(f);
  }
  return files;
}

// One file: open, check, register into a staging registry, merge. Returns an error message
// (empty on success); `out` gets the plugin's identity and the names that made it into reg.
std::string load_one(const std::string& file, Registry& reg, LoadedPlugin& out) {
  boost::dll::shared_library lib;
  boost::dll::fs::error_code ec;
  // rtld_now: a plugin built against another core fails here, with the missing symbol named,
  // rather than at its first call. rtld_local keeps each plugin's symbols to itself.
  lib.load(file, ec, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec || !lib.is_loaded()) {
    const char* why = ::dlerror();
    return std::string(
               "not a loadable shared library; expected an ELF shared object for this "
               "machine, dlopen said: ") +
           (why ? why : ec.message());
  }
  if (!lib.has(kEntrySymbol))
    return std::string("a shared library without the vpmoe entry point: expected the symbol `") +
           kEntrySymbol + "` (write VPMOE_PLUGIN(name, version, register_fn) in the plugin)";
  auto& entry = lib.get_alias<const PluginDescriptor*()>(kEntrySymbol);
  const PluginDescriptor* d = entry();
  if (!d) return std::string("its entry point `") + kEntrySymbol + "` returned no descriptor";
  // The ABI version is the only field we may read before it matches.
  if (d->abi_version != abi_version())
    return "plugin ABI version " + std::to_string(d->abi_version) + " does not match the host's " +
           std::to_string(abi_version()) + "; rebuild the plugin against this vpmoe SDK";
  const char* tag = d->build_tag ? d->build_tag : "";
  if (std::strcmp(tag, build_tag()) != 0)
    return std::string("build tag '") + tag + "' does not match the host's '" + build_tag() +
           "'; rebuild the plugin with the same vpmoe, compiler, C++ library and CUDA";
  out.name = d->name ? d->name : "";
  out.version = d->version ? d->version : "";
  if (!d->register_fn) return "its descriptor has no register function";

  Registry staging;
  staging.set_origin(file, out.name, out.version);
  try {
    d->register_fn(staging);
  } catch (const std::exception& e) {
    return "plugin '" + out.name +
           "' threw while registering (nothing was registered): " + e.what();
  } catch (...) {
    return "plugin '" + out.name +
           "' threw a non-standard exception while registering "
           "(nothing was registered)";
  }
  std::vector<std::string> names;
  for (const auto& e : staging.entries()) names.push_back(e.name);
  keep_loaded(std::move(lib));  // from here on reg may hold its factories
  std::string err;
  try {
    reg.merge(std::move(staging));
  } catch (const std::exception& e) {
    err = e.what();
  }
  for (const auto& e : reg.entries())
    if (e.file == file && std::find(names.begin(), names.end(), e.name) != names.end())
      out.names.push_back(e.name);
  return err;
}

}  // namespace

PluginLoadReport load_plugins(const std::vector<std::string>& search_path, Registry& reg) {
  PluginLoadReport report;
  for (const auto& file : expand(search_path, report.errors)) {
    LoadedPlugin lp;
    lp.file = file;
    std::string err;
    try {
      err = load_one(file, reg, lp);
    } catch (const std::exception& e) {
      err = std::string("unexpected error while loading: ") + e.what();
    }
    // A partly merged plugin (some names refused as duplicates) still counts as loaded.
    if (err.empty() || !lp.names.empty()) report.loaded.push_back(lp);
    if (!err.empty()) report.errors.push_back({file, err});
  }
  for (const auto& e : report.errors) reg.note_failure(e.file, e.message);
  return report;
}

}  // namespace vpmoe
