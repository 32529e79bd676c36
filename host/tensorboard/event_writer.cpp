#include "tensorboard/event_writer.h"

#include <unistd.h>

#include <boost/crc.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "tensorboard/event.pb.h"
#include "vpmoe/error.h"

namespace vpmoe::host::tensorboard {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_le(std::string& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::uint8_t(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::uint32_t masked_crc32c(const void* data, std::size_t n) {
  // CRC-32C: polynomial 0x1EDC6F41, reflected, initial and final xor all ones.
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, n);
  const std::uint32_t c = crc.checksum();
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("tensorboard: cannot create " + dir + ": " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(std::int64_t(now_s())) + "." + host;
  // A writer started within the same second as another keeps both files.
  for (int n = 1; std::filesystem::exists(path_); ++n) path_ += "." + std::to_string(n);
  out_.open(path_, std::ios::binary);
  if (!out_) throw Error("tensorboard: cannot write " + path_);
  Event e;
  e.set_wall_time(now_s());
  e.set_file_version("brain.Event:2");
  record(e.SerializeAsString());
}

void EventWriter::scalars(std::int64_t step,
                          const std::vector<std::pair<std::string, double>>& values) {
  Event e;
  e.set_wall_time(now_s());
  e.set_step(step);
  Summary* s = e.mutable_summary();
  for (const auto& [tag, v] : values) {
    SummaryValue* sv = s->add_value();
    sv->set_tag(tag);
    sv->set_simple_value(float(v));
  }
  record(e.SerializeAsString());
}

void EventWriter::record(const std::string& bytes) {
  std::string head;
  put_le(head, bytes.size(), 8);
  std::string rec = head;
  put_le(rec, masked_crc32c(head.data(), head.size()), 4);
  rec += bytes;
  put_le(rec, masked_crc32c(bytes.data(), bytes.size()), 4);
  out_.write(rec.data(), std::streamsize(rec.size()));
  out_.flush();
  if (!out_) throw Error("tensorboard: write failed on " + path_);
}

std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("tensorboard: cannot read " + path);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < all.size()) {
    const std::string where = path + " at byte " + std::to_string(at);
    if (all.size() - at < 12) throw Error("tensorboard: " + where + ": truncated record header");
    const std::uint64_t n = get_le(all.data() + at, 8);
    if (get_le(all.data() + at + 8, 4) != masked_crc32c(all.data() + at, 8))
      throw Error("tensorboard: " + where + ": length CRC mismatch");
    if (all.size() - at - 12 < n + 4) throw Error("tensorboard: " + where + ": truncated record");
    const char* data = all.data() + at + 12;
    if (get_le(data + n, 4) != masked_crc32c(data, n))
      throw Error("tensorboard: " + where + ": data CRC mismatch");
    out.emplace_back(data, n);
    at += 12 + n + 4;
  }
  return out;
}

}  // namespace vpmoe::host::tensorboard
