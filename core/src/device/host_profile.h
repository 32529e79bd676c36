#pragma once
// Host time by part, for a GPU machine without a system profiler (no nsys there): with
// VPMOE_HOST_PROFILE=1 in the environment (or set_enabled), each VPMOE_HOST_SCOPE("name") adds
// its wall time and a count to a process-wide table that report() prints. A host that launches
// slower than the device runs shows here as time outside the device waits. Off, a scope costs
// one branch.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace vpmoe::host_profile {

bool enabled();
void set_enabled(bool on);

struct Slot {
  const char* name;
  std::atomic<std::uint64_t> ns{0}, calls{0};
  explicit Slot(const char* n);  // registers itself
};

class Scope {
 public:
  explicit Scope(Slot& s) : slot_(enabled() ? &s : nullptr) {
    if (slot_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (!slot_) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - t0_);
    slot_->ns.fetch_add(std::uint64_t(ns.count()), std::memory_order_relaxed);
    slot_->calls.fetch_add(1, std::memory_order_relaxed);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Slot* slot_;
  std::chrono::steady_clock::time_point t0_{};
};

// One line per slot that ran, the most time first: name, calls, total ms, us per call.
std::string report();
void reset();

}  // namespace vpmoe::host_profile

#define VPMOE_HOST_SCOPE_CAT2(a, b) a##b
#define VPMOE_HOST_SCOPE_CAT(a, b) VPMOE_HOST_SCOPE_CAT2(a, b)
#define VPMOE_HOST_SCOPE(name)                                                             \
  static ::vpmoe::host_profile::Slot VPMOE_HOST_SCOPE_CAT(vpmoe_hp_slot_, __LINE__){name}; \
  ::vpmoe::host_profile::Scope VPMOE_HOST_SCOPE_CAT(vpmoe_hp_scope_, __LINE__) {           \
    VPMOE_HOST_SCOPE_CAT(vpmoe_hp_slot_, __LINE__)                                         \
  }
