#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "io/durable.h"
#include "io/indexed_format.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("indexed dataset " + path + ": " + what + " (" + std::strerror(errno) + ")");
}

template <class T>
void append_le(std::string& out, T v) {  // the host is little-endian (x86-64, aarch64)
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string temp_name(const std::string& target) {
  return target + ".tmp-" + std::to_string(::getpid());
}

}  // namespace

IndexedDatasetWriter::IndexedDatasetWriter(std::string prefix, IndexedDType dtype)
    : prefix_(std::move(prefix)), dtype_(dtype) {
  element_size(dtype);  // rejects unknown codes
  bin_tmp_ = temp_name(prefix_ + ".bin");
  idx_tmp_ = temp_name(prefix_ + ".idx");
  bin_fd_ = ::open(bin_tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (bin_fd_ < 0) fail(bin_tmp_, "cannot create it");
}

IndexedDatasetWriter::~IndexedDatasetWriter() {
  if (bin_fd_ >= 0) ::close(bin_fd_);
  if (!committed_) {
    std::remove(bin_tmp_.c_str());
    std::remove(idx_tmp_.c_str());
  }
}

void IndexedDatasetWriter::check_element(std::size_t bytes) const {
  if (bytes != element_size(dtype_))
    throw Error("indexed dataset " + prefix_ + ": elements of " + std::to_string(bytes) +
                " bytes given to a " + dtype_name(dtype_) + " dataset");
}

void IndexedDatasetWriter::add_document(const void* elements, std::size_t count) {
  if (prepared_) throw Error("indexed dataset " + prefix_ + ": add_document after prepare/commit");
  if (count > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw Error("indexed dataset " + prefix_ + ": a document of " + std::to_string(count) +
                " elements exceeds Megatron's int32 sequence length");
  io::write_all(bin_fd_, elements, count * element_size(dtype_), bin_tmp_);
  lengths_.push_back(static_cast<std::int32_t>(count));
  elements_ += count;
}

void IndexedDatasetWriter::prepare() {
  if (prepared_) return;
  namespace f = indexed_format;
  const std::uint64_t s = lengths_.size();
  std::string idx(f::kMagic, sizeof f::kMagic);
  append_le<std::uint64_t>(idx, f::kVersion);
  append_le<std::uint8_t>(idx, static_cast<std::uint8_t>(dtype_));
  append_le<std::uint64_t>(idx, s);
  append_le<std::uint64_t>(idx, s + 1);
  idx.reserve(idx.size() + s * 20 + 8);
  for (auto len : lengths_) append_le<std::int32_t>(idx, len);
  std::int64_t ptr = 0;
  for (auto len : lengths_) {
    append_le<std::int64_t>(idx, ptr);
    ptr += static_cast<std::int64_t>(len) * static_cast<std::int64_t>(element_size(dtype_));
  }
  for (std::uint64_t d = 0; d <= s; ++d) append_le<std::int64_t>(idx, static_cast<std::int64_t>(d));

  const int idx_fd = ::open(idx_tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (idx_fd < 0) fail(idx_tmp_, "cannot create it");
  try {
    io::write_all(idx_fd, idx.data(), idx.size(), idx_tmp_);
    io::sync_fd(idx_fd, idx_tmp_);
  } catch (...) {
    ::close(idx_fd);
    throw;
  }
  ::close(idx_fd);
  io::sync_fd(bin_fd_, bin_tmp_);
  ::close(bin_fd_);
  bin_fd_ = -1;
  prepared_ = true;
}

void IndexedDatasetWriter::commit() {
  if (committed_) return;
  prepare();
  // .bin first: a reader that finds the new .idx also finds its data.
  io::rename_durably(bin_tmp_, prefix_ + ".bin");
  io::rename_durably(idx_tmp_, prefix_ + ".idx");
  committed_ = true;
}

}  // namespace vpmoe
