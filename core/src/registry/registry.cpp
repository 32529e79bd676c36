// Registry: spec names -> type-erased factories, with the file that registered each.
#include "vpmoe/registry.h"

#include <algorithm>

namespace vpmoe {
namespace {

std::string where(const std::string& file) {
  return file.empty() ? "(built in)" : file;
}

bool is_lower_snake(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string duplicate_message(const RegistryEntry& first, const RegistryEntry& second) {
  return "spec name '" + first.name + "' is registered twice: first by " + where(first.file) +
         " (plugin '" + first.plugin + "'), again by " + where(second.file) + " (plugin '" +
         second.plugin + "'); the second registration is refused";
}

}  // namespace

void Registry::add_erased(const std::string& name, const char* kind, std::type_index iface,
                          std::shared_ptr<void> f) {
  const std::string prefix = std::string(kind) + ".";
  if (name.rfind(prefix, 0) != 0 || !is_lower_snake(std::string_view(name).substr(prefix.size())))
    throw Error("spec name '" + name + "' registered by " + where(origin_.file) +
                " is malformed: expected '" + prefix +
                "<lower_snake>' (the interface's kind, a dot, then [a-z][a-z0-9_]*)");
  Slot slot;
  slot.entry = origin_;
  slot.entry.name = name;
  slot.entry.kind = kind;
  slot.iface = iface;
  slot.factory = std::move(f);
  if (auto it = slots_.find(name); it != slots_.end())
    throw Error(duplicate_message(it->second.entry, slot.entry));
  slots_.emplace(name, std::move(slot));
}

const void* Registry::find_erased(std::string_view name, const char* kind,
                                  std::type_index iface) const {
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    auto names = names_of_kind(kind);
    std::string msg = "unknown " + std::string(kind) + " '" + std::string(name) + "'; available " +
                      kind + " names: " + (names.empty() ? "(none)" : join(names, ", "));
    if (!failures_.empty()) {
      msg += "; plugin files that failed to load:";
      for (const auto& [file, why] : failures_) msg += "\n  " + file + ": " + why;
    }
    throw Error(msg);
  }
  const Slot& s = it->second;
  if (s.iface != iface)
    throw Error("spec name '" + std::string(name) + "' (registered by " + where(s.entry.file) +
                ") implements kind '" + s.entry.kind + "', but a '" + kind +
                "' was asked for; choose one of the " + kind + " names");
  return s.factory.get();
}

bool Registry::contains(std::string_view name) const {
  return slots_.count(name) > 0;
}

std::vector<RegistryEntry> Registry::entries() const {
  std::vector<RegistryEntry> out;
  out.reserve(slots_.size());
  for (const auto& [name, slot] : slots_) out.push_back(slot.entry);  // map keeps them sorted
  return out;
}

std::vector<std::string> Registry::names_of_kind(std::string_view kind) const {
  std::vector<std::string> out;
  for (const auto& [name, slot] : slots_)
    if (slot.entry.kind == kind) out.push_back(name);
  return out;
}

void Registry::set_origin(std::string file, std::string plugin, std::string version) {
  origin_.file = std::move(file);
  origin_.plugin = std::move(plugin);
  origin_.version = std::move(version);
}

void Registry::merge(Registry&& other) {
  std::vector<std::string> refused;
  for (auto& [name, slot] : other.slots_) {
    if (auto it = slots_.find(name); it != slots_.end()) {
      refused.push_back(duplicate_message(it->second.entry, slot.entry));
      continue;
    }
    slots_.emplace(name, std::move(slot));
  }
  failures_.insert(failures_.end(), other.failures_.begin(), other.failures_.end());
  other.slots_.clear();
  other.failures_.clear();
  if (!refused.empty()) throw Error(join(refused, "; "));
}

void Registry::note_failure(std::string file, std::string message) {
  failures_.emplace_back(std::move(file), std::move(message));
}

}  // namespace vpmoe
