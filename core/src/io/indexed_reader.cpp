#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/indexed_format.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe {

struct IndexedDatasetReader::Mapping {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  explicit Mapping(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw Error("indexed dataset " + path + ": cannot open it (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw Error("indexed dataset " + path + ": cannot stat it (" + std::strerror(err) + ")");
    }
    size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      ::close(fd);
      if (p == MAP_FAILED)
        throw Error("indexed dataset " + path + ": mmap failed (" + std::strerror(errno) + ")");
      data = static_cast<const unsigned char*>(p);
    } else {
      ::close(fd);
    }
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<unsigned char*>(data), size);
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
