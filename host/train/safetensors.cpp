#include "train/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "io/durable.h"
#include "vpmoe/error.h"

namespace vpmoe::host::train {
namespace {

const char* st_dtype(DType d) {
  switch (d) {
    case DType::f32:
      return "F32";
    case DType::bf16:
      return "BF16";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::u8:
      return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& d) {
  for (DType t : {DType::f32, DType::bf16, DType::i32, DType::i64, DType::u8})
    if (s == st_dtype(t)) return d = t, true;
  return false;
}

// One tensor's header entry, checked against the data's size before anything is allocated.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin, end;
};

std::string range(std::uint64_t b, std::uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

[[noreturn]] void refuse(const std::string& path, const std::string& what) {
  throw Error(path + ": not a valid safetensors file: " + what);
}

// The entry's fields; refuses (naming the file and the tensor) what the data cannot hold.
Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v,
                  std::uint64_t data_size) {
  const std::string t = "tensor \"" + name + "\": ";
  if (!v.is_object()) refuse(path, t + "expected {dtype, shape, data_offsets}");
  Entry e{name, DType::f32, {}, 0, 0};
  if (!v.contains("dtype") || !v["dtype"].is_string())
    refuse(path, t + "dtype missing or not a string");
  if (!parse_dtype(v["dtype"].get<std::string>(), e.dtype))
    refuse(path, t + "unknown dtype \"" + v["dtype"].get<std::string>() +
                     "\" (expected F32, BF16, I32, I64 or U8)");
  if (!v.contains("shape") || !v["shape"].is_array())
    refuse(path, t + "shape missing or not a list");
  // The element count; a product past the data's size cannot fit, so it stops there (before
  // it could overflow). A zero dimension makes it 0 whatever the others are, so their product
  // (the shape's numel before the zero) is kept apart: past int64 no Tensor can hold the shape.
  constexpr std::uint64_t kMaxCount = std::numeric_limits<std::int64_t>::max();
  std::uint64_t count = 1, nonzero = 1;
  bool nonzero_fits = true;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned())
      refuse(path, t + "shape " + v["shape"].dump() + " has a dimension that is not a count");
    const std::uint64_t n = d.get<std::uint64_t>();
    e.shape.push_back(static_cast<std::int64_t>(n));  // checked below before it is used
    count = (n != 0 && count > data_size / n) ? data_size + 1 : count * n;
    if (n != 0 && nonzero_fits) {
      nonzero_fits = nonzero <= kMaxCount / n;
      nonzero *= nonzero_fits ? n : 1;
    }
  }
  if (count == 0 && !nonzero_fits)
    refuse(path, t + "shape " + v["shape"].dump() +
                     " has dimensions whose product is past 2^63 - 1 (no tensor has that shape)");
  const auto& o = v.contains("data_offsets") ? v["data_offsets"] : nlohmann::json();
  if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
    refuse(path, t + "expected data_offsets [begin, end], found " + o.dump());
  e.begin = o[0].get<std::uint64_t>();
  e.end = o[1].get<std::uint64_t>();
  if (e.begin > e.end || e.end > data_size)
    refuse(path, t + "data_offsets " + range(e.begin, e.end) + " are outside the " +
                     std::to_string(data_size) + "-byte data");
  const std::uint64_t held = e.end - e.begin;
  if (count > data_size || count * dtype_size(e.dtype) != held)
    refuse(path, t + "shape " + v["shape"].dump() + " of " + st_dtype(e.dtype) + " needs " +
                     (count > data_size ? "more bytes than the data has"
                                        : std::to_string(count * dtype_size(e.dtype)) + " bytes") +
                     ", data_offsets " + range(e.begin, e.end) + " hold " + std::to_string(held));
  return e;
}

// The entries must tile the data: no overlap, no byte left to no tensor.
std::string tiling_error(std::vector<Entry> es, std::uint64_t data_size) {
  std::sort(es.begin(), es.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  std::uint64_t at = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : es) {
    const std::string here = "tensor \"" + e.name + "\" " + range(e.begin, e.end);
    if (e.begin < at)
      return here + " overlaps tensor \"" + prev->name + "\" " + range(prev->begin, prev->end);
    if (e.begin > at)
      return "bytes [" + std::to_string(at) + ", " + std::to_string(e.begin) +
             ") of the data belong to no tensor (next: " + here + ")";
    at = e.end;
    prev = &e;
  }
  if (at != data_size)
    return "the data has " + std::to_string(data_size) + " bytes, the tensors cover " +
           std::to_string(at) + (prev ? " (the last, \"" + prev->name + "\", ends there)" : "");
  return "";
}

}  // namespace

data::FileHash write_safetensors(const std::string& path,
                                 const std::map<std::string, Tensor>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    host.push_back(t.to(Device::cpu()));
    header[name] = {{"dtype", st_dtype(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // the data starts 8-byte aligned
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create: " + std::strerror(errno));
  data::Sha256 sha;
  auto write = [&](const void* p, std::size_t n) {
    io::write_all(fd, p, n, path);
    sha.update(p, n);
  };
  try {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(text.size() >> (8 * i));
    write(len, 8);
    write(text.data(), text.size());
    for (const Tensor& t : host) write(t.data(), t.nbytes());
    io::sync_fd(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw Error(path + ": close failed: " + std::strerror(errno));
  return sha.finish();
}

std::map<std::string, Tensor> read_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (expected a safetensors file)");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) refuse(path, "shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8)
    refuse(path, "header length " + std::to_string(n) + " runs past the end of the " +
                     std::to_string(bytes.size()) + "-byte file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    refuse(path, std::string("header is not JSON: ") + e.what());
  }
  if (!header.is_object()) refuse(path, "header is not a JSON object");
  const std::size_t data = 8 + n, size = bytes.size() - data;
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) refuse(path, "__metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) refuse(path, "__metadata__ \"" + k + "\" is not a string");
        if (metadata) (*metadata)[k] = s.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, v, size));
  }
  if (const std::string why = tiling_error(entries, size); !why.empty()) refuse(path, why);
  std::map<std::string, Tensor> out;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    // An empty tensor has no storage (data() is null), and memcpy's pointers must not be.
    if (t.nbytes()) std::memcpy(t.data(), bytes.data() + data + e.begin, t.nbytes());
    out.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace vpmoe::host::train
