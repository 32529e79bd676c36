#pragma once
// Bounds how far the host queues work ahead of a device's stream. mark() after each unit of work
// (a layer); once `depth` marks are outstanding it waits for the oldest. The device stays fed
// (depth units are queued), but the memory pool sees few frees still pending: a host that runs
// a whole backward ahead fragments the pool until a near-full device runs out of memory.
#include <cstddef>
#include <vector>

#include "vpmoe/device.h"

namespace vpmoe {

class RunAhead {
 public:
  RunAhead(Device d, int depth);
  ~RunAhead();
  RunAhead(const RunAhead&) = delete;
  RunAhead& operator=(const RunAhead&) = delete;
  void mark();

 private:
  Device d_;
  std::vector<void*> events_;  // a ring, created on first use; empty on the CPU
  std::size_t next_ = 0, outstanding_ = 0;
};

}  // namespace vpmoe
