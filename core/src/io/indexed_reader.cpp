#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/indexed_format.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe {

// The file stays open while mapped: check_unchanged compares its fstat (an in-place write or
// truncation) and its path's stat (another file renamed over it, or removed) with the file as
// opened.
struct IndexedDatasetReader::Mapping {
  std::string path;
  int fd = -1;
  struct stat opened {};
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  explicit Mapping(const std::string& p) : path(p) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw Error("indexed dataset " + path + ": cannot open it (" + std::strerror(errno) + ")");
    if (::fstat(fd, &opened) != 0) fail("cannot stat it");
    size = static_cast<std::size_t>(opened.st_size);
    if (size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) fail("mmap failed");
      data = static_cast<const unsigned char*>(m);
    }
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data) ::munmap(const_cast<unsigned char*>(data), size);
    ::close(fd);
  }
  [[noreturn]] void fail(const char* what) {
    const int err = errno;
    ::close(fd);
    throw Error("indexed dataset " + path + ": " + what + " (" + std::strerror(err) + ")");
  }
  // What differs from the file as opened; "" when nothing does.
  std::string change() const {
    struct stat now {};
    if (::fstat(fd, &now) != 0) return std::string("cannot stat it (") + std::strerror(errno) + ")";
    if (now.st_size != opened.st_size)
      return "its size changed from " + std::to_string(opened.st_size) + " to " +
             std::to_string(now.st_size) + " bytes";
    if (now.st_mtim.tv_sec != opened.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != opened.st_mtim.tv_nsec)
      return "it was written in place (modified at " + stamp(now) + ", opened as modified at " +
             stamp(opened) + ")";
    struct stat at {};
    if (::stat(path.c_str(), &at) != 0)
      return std::string("its path no longer names it (") + std::strerror(errno) + ")";
    if (at.st_ino != opened.st_ino || at.st_dev != opened.st_dev)
      return "another file was put at its path (inode " + std::to_string(at.st_ino) +
             ", opened as inode " + std::to_string(opened.st_ino) + ")";
    return "";
  }
  static std::string stamp(const struct stat& s) {
    char ns[16];
    std::snprintf(ns, sizeof ns, "%09ld", static_cast<long>(s.st_mtim.tv_nsec));
    return std::to_string(s.st_mtim.tv_sec) + "." + ns + " s";
  }
};

namespace {

template <class T>
T read_le(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

IndexedDatasetReader::IndexedDatasetReader(const std::string& prefix) : prefix_(prefix) {
  namespace f = indexed_format;
  const std::string idx_path = prefix + ".idx", bin_path = prefix + ".bin";
  idx_ = std::make_unique<Mapping>(idx_path);
  auto bad = [&](const std::string& path, const std::string& what) {
    return Error("indexed dataset " + path + ": " + what);
  };
  const unsigned char* p = idx_->data;
  if (idx_->size < f::kHeaderBytes)
    throw bad(idx_path, "expected a header of " + std::to_string(f::kHeaderBytes) +
                            " bytes, found a file of " + std::to_string(idx_->size));
  if (std::memcmp(p, f::kMagic, sizeof f::kMagic) != 0)
    throw bad(idx_path, "expected the magic MMIDIDX\\x00\\x00 (a Megatron indexed dataset)");
  const auto version = read_le<std::uint64_t>(p + 9);
  if (version != f::kVersion)
    throw bad(idx_path, "expected version 1, found " + std::to_string(version));
  const std::uint8_t code = p[17];
  if (code < 1 || code > 8)
    throw bad(idx_path, "expected a dtype code 1..8, found " + std::to_string(code));
  dtype_ = static_cast<IndexedDType>(code);
  sequences_ = read_le<std::uint64_t>(p + 18);
  doc_entries_ = read_le<std::uint64_t>(p + 26);
  // Counts larger than the file could hold are refused before the size arithmetic can wrap.
  const std::size_t room = idx_->size - f::kHeaderBytes;
  if (sequences_ > room / 12 || doc_entries_ > room / 8)
    throw bad(idx_path, "the header claims " + std::to_string(sequences_) + " sequences and " +
                            std::to_string(doc_entries_) +
                            " document-index entries, more than a file of " +
                            std::to_string(idx_->size) + " bytes holds");
  const std::size_t want = f::kHeaderBytes + sequences_ * 12 + doc_entries_ * 8;
  if (doc_entries_ < 1 || idx_->size != want)
    throw bad(idx_path,
              std::to_string(sequences_) + " sequences and " + std::to_string(doc_entries_) +
                  " document-index entries need " + std::to_string(want) + " bytes, found " +
                  std::to_string(idx_->size) +
                  (idx_->size == want + sequences_ && sequences_ > 0
                       ? " (the extra bytes look like multimodal sequence modes, which are not "
                         "supported)"
                       : ""));
  lengths_ = p + f::kHeaderBytes;
  pointers_ = lengths_ + sequences_ * 4;
  doc_index_ = pointers_ + sequences_ * 8;

  bin_ = std::make_unique<Mapping>(bin_path);
  const std::int64_t esize = static_cast<std::int64_t>(element_size(dtype_));
  std::int64_t expect_ptr = 0;
  for (std::size_t i = 0; i < sequences_; ++i) {
    const std::int32_t len = length(i);
    if (len < 0 || pointer(i) != expect_ptr)
      throw bad(idx_path, "sequence " + std::to_string(i) + ": expected a length >= 0 at byte " +
                              std::to_string(expect_ptr) + ", found length " + std::to_string(len) +
                              " at byte " + std::to_string(pointer(i)));
    expect_ptr += len * esize;
    elements_ += static_cast<std::uint64_t>(len);
  }
  if (static_cast<std::size_t>(expect_ptr) != bin_->size)
    throw bad(bin_path, "expected " + std::to_string(expect_ptr) + " bytes (" +
                            std::to_string(elements_) + " " + dtype_name(dtype_) +
                            " elements), found " + std::to_string(bin_->size));
  if (document_index(0) != 0 || document_index(doc_entries_ - 1) != std::int64_t(sequences_))
    throw bad(idx_path, "expected the document index to run from 0 to the sequence count " +
                            std::to_string(sequences_));
  for (std::size_t j = 1; j < doc_entries_; ++j)
    if (document_index(j) < document_index(j - 1))
      throw bad(idx_path, "document index entry " + std::to_string(j) +
                              ": expected >= " + std::to_string(document_index(j - 1)) +
                              ", found " + std::to_string(document_index(j)));
}

IndexedDatasetReader::~IndexedDatasetReader() = default;

void IndexedDatasetReader::check_unchanged() const {
  for (const Mapping* m : {idx_.get(), bin_.get()}) {
    const std::string what = m->change();
    if (!what.empty())
      throw Error("indexed dataset " + m->path + ": changed while the run reads it: " + what +
                  "; expected the file as it was opened (" + std::to_string(m->opened.st_size) +
                  " bytes, modified at " + Mapping::stamp(m->opened) +
                  "). The run stops rather than read tokens from it: restore the file, or start "
                  "a new run on the new data");
  }
}

std::int32_t IndexedDatasetReader::length(std::size_t i) const {
  return read_le<std::int32_t>(lengths_ + i * 4);
}
std::int64_t IndexedDatasetReader::pointer(std::size_t i) const {
  return read_le<std::int64_t>(pointers_ + i * 8);
}
std::int64_t IndexedDatasetReader::document_index(std::size_t j) const {
  return read_le<std::int64_t>(doc_index_ + j * 8);
}

const void* IndexedDatasetReader::sequence_bytes(std::size_t i, std::size_t element_bytes) const {
  if (i >= sequences_)
    throw Error("indexed dataset " + prefix_ + ": sequence " + std::to_string(i) + " of " +
                std::to_string(sequences_));
  if (element_bytes != element_size(dtype_))
    throw Error("indexed dataset " + prefix_ + ": read as " + std::to_string(element_bytes) +
                "-byte elements, but its dtype is " + dtype_name(dtype_));
  return bin_->data + pointer(i);
}

}  // namespace vpmoe
