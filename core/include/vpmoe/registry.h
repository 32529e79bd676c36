#pragma once
// Spec name -> factory, per interface kind, remembering which plugin file registered what.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "vpmoe/device.h"
#include "vpmoe/error.h"
#include "vpmoe/layer_info.h"

namespace vpmoe {

struct Config;
class Positional;
struct ParallelState;

// What a factory gets: the whole validated run configuration (each plugin reads and validates
// its own sections), where the module sits, and where it lives. An attention module also gets
// its layer's positional encoding (built by the host from [plugins] positional_local/global;
// null for none); it owns it from then on and lists its parameters with its own.
struct BuildArgs {
  const Config* config = nullptr;
  LayerInfo layer;
  Device device;
  bool bf16_compute = false;
  std::uint64_t seed = 1234;
  std::shared_ptr<Positional> positional;
  // The process groups (null: one process). The experts build their ep shard from it.
  std::shared_ptr<const ParallelState> parallel;
};

template <class I>
using Factory = std::function<std::unique_ptr<I>(const BuildArgs&)>;

struct RegistryEntry {
  std::string name;     // "attention.tpa"
  std::string kind;     // "attention"
  std::string file;     // plugin file that registered it ("" when built in)
  std::string plugin;   // plugin name from its descriptor
  std::string version;  // plugin version
};

class Registry {
 public:
  // Registers factory f for interface I under name, which must read "<I::kind>.<name>".
  // A second registration of a name throws, naming both files.
  template <class I>
  void add(const std::string& name, Factory<I> f) {
    add_erased(name, I::kind, std::type_index(typeid(I)),
               std::make_shared<Factory<I>>(std::move(f)));
  }

  // Builds name as an I; an unknown name throws, listing the names of that kind.
  template <class I>
  std::unique_ptr<I> create(std::string_view name, const BuildArgs& args) const {
    auto* f = static_cast<const Factory<I>*>(find_erased(name, I::kind, typeid(I)));
    return (*f)(args);
  }

  bool contains(std::string_view name) const;
  std::vector<RegistryEntry> entries() const;  // sorted by name
  std::vector<std::string> names_of_kind(std::string_view kind) const;

  // Attribution for entries added from now on (set by the plugin loader).
  void set_origin(std::string file, std::string plugin, std::string version);
  // Moves every entry of other into this one; a name present in both is refused (throws after
  // merging the rest, naming both files).
  void merge(Registry&& other);
  // Failed plugin files, so that a missing name can be explained (set by the loader).
  void note_failure(std::string file, std::string message);

 private:
  struct Slot {
    RegistryEntry entry;
    std::type_index iface{typeid(void)};
    std::shared_ptr<void> factory;
  };
  void add_erased(const std::string& name, const char* kind, std::type_index iface,
                  std::shared_ptr<void> f);
  const void* find_erased(std::string_view name, const char* kind, std::type_index iface) const;

  std::map<std::string, Slot, std::less<>> slots_;
  RegistryEntry origin_;
  std::vector<std::pair<std::string, std::string>> failures_;
};

}  // namespace vpmoe
