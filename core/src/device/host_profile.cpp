#include "device/host_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace vpmoe::host_profile {
namespace {

std::atomic<int> g_enabled{-1};  // -1: not yet read from the environment

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<Slot*>& registry() {
  static std::vector<Slot*> slots;
  return slots;
}

}  // namespace

bool enabled() {
  int e = g_enabled.load(std::memory_order_relaxed);
  if (e < 0) {
    const char* v = std::getenv("VPMOE_HOST_PROFILE");
    e = v && *v && std::string(v) != "0" ? 1 : 0;
    g_enabled.store(e, std::memory_order_relaxed);
  }
  return e == 1;
}

void set_enabled(bool on) {
  g_enabled.store(on ? 1 : 0);
}

Slot::Slot(const char* n) : name(n) {
  std::lock_guard lock(registry_mutex());
  registry().push_back(this);
}

std::string report() {
  std::vector<Slot*> slots;
  {
    std::lock_guard lock(registry_mutex());
    slots = registry();
  }
  slots.erase(std::remove_if(slots.begin(), slots.end(), [](Slot* s) { return s->calls == 0; }),
              slots.end());
  std::stable_sort(slots.begin(), slots.end(),
                   [](Slot* a, Slot* b) { return a->ns.load() > b->ns.load(); });
  std::string out;
  for (Slot* s : slots) {
    const double ms = double(s->ns.load()) * 1e-6, calls = double(s->calls.load());
    char line[200];
    std::snprintf(line, sizeof line, "%10.1f ms %9.0f calls %8.1f us/call  %s\n", ms, calls,
                  1e3 * ms / calls, s->name);
    out += line;
  }
  return out;
}

void reset() {
  std::lock_guard lock(registry_mutex());
  for (Slot* s : registry()) s->ns = 0, s->calls = 0;
}

}  // namespace vpmoe::host_profile
