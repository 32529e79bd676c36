#pragma once
#include <cstddef>
#include <cstdint>

#include "vpmoe/device.h"

namespace vpmoe {

// One device buffer; freed (back to its pool) when the last Tensor sharing it goes.
class Storage {
 public:
  Storage(std::size_t bytes, Device d);           // owning
  Storage(void* p, std::size_t bytes, Device d);  // borrowed
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return p_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }
  // Bytes of the owning storages alive now on d (the CPU, or CUDA device d.index < 16): what
  // the tensors hold, not the pool's caching (tests measure saved activations with it).
  static std::int64_t live_bytes(Device d);

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
  Device dev_;
  bool owned_ = false;
};

}  // namespace vpmoe
