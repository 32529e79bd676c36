#include "train/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

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

}  // namespace

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
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
  try {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(text.size() >> (8 * i));
    io::write_all(fd, len, 8, path);
    io::write_all(fd, text.data(), text.size(), path);
    for (const Tensor& t : host) io::write_all(fd, t.data(), t.nbytes(), path);
    io::sync_fd(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

std::map<std::string, Tensor> read_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (expected a safetensors file)");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& what) -> Error {
    return Error(path + ": not a valid safetensors file: " + what);
  };
  if (bytes.size() < 8) throw bad("shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8) throw bad("header length " + std::to_string(n) + " past the end");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("header is not JSON: ") + e.what());
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const std::size_t data = 8 + n, size = bytes.size() - data;
  std::map<std::string, Tensor> out;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (metadata)
        for (const auto& [k, s] : v.items()) (*metadata)[k] = s.get<std::string>();
      continue;
    }
    DType d;
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() ||
        !parse_dtype(v["dtype"].get<std::string>(), d))
      throw bad(name + ": dtype missing or not one of F32, BF16, I32, I64, U8");
    if (!v.contains("shape") || !v["shape"].is_array() || !v.contains("data_offsets") ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw bad(name + ": expected shape [...] and data_offsets [begin, end]");
    const Shape shape = v["shape"].get<Shape>();
    const auto b = v["data_offsets"][0].get<std::uint64_t>(),
               e = v["data_offsets"][1].get<std::uint64_t>();
    Tensor t = Tensor::empty(shape, d);
    if (e < b || e > size || e - b != t.nbytes())
      throw bad(name + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                "] do not hold " + std::to_string(t.nbytes()) + " bytes inside the " +
                std::to_string(size) + "-byte data");
    std::memcpy(t.data(), bytes.data() + data + b, t.nbytes());
    out.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace vpmoe::host::train
