#pragma once
// TensorBoard event files: the per-step scalars of a run as records of serialized Event
// messages (event.proto) in TFRecord framing: a little-endian u64 length, the masked CRC32C of
// those 8 bytes, the data, the masked CRC32C of the data. One file per writer,
// DIR/events.out.tfevents.<seconds>.<host>, opened with the "brain.Event:2" version event.
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace vpmoe::host::tensorboard {

// CRC32C (Castagnoli) of data, masked as TFRecord stores it.
std::uint32_t masked_crc32c(const void* data, std::size_t n);

class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);  // creates dir; throws naming it on failure
  // One event at step with these (tag, value) scalars; flushed, so a reader sees it at once.
  void scalars(std::int64_t step, const std::vector<std::pair<std::string, double>>& values);
  const std::string& path() const { return path_; }

 private:
  void record(const std::string& bytes);
  std::string path_;
  std::ofstream out_;
};

// The records of an event file, each checked against both CRCs (an error names the file and
// the record's offset); the test's reader and a tool's.
std::vector<std::string> read_records(const std::string& path);

}  // namespace vpmoe::host::tensorboard
