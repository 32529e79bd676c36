#pragma once
// Megatron's indexed dataset: PREFIX.bin (the elements of every sequence, back to back) and
// PREFIX.idx (header, sequence lengths, byte pointers, document index), little-endian, byte
// for byte what Megatron-LM reads and writes (spec/data.md §1). One document = one sequence.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vpmoe {

// Megatron's dtype codes.
enum class IndexedDType : std::uint8_t {
  u8 = 1,
  i8 = 2,
  i16 = 3,
  i32 = 4,
  i64 = 5,
  f64 = 6,
  f32 = 7,
  u16 = 8
};
std::size_t element_size(IndexedDType t);
const char* dtype_name(IndexedDType t);

// Writes under temporary names beside the targets; commit() fsyncs and renames them into
// place. Destroyed without commit() (an error, an exception), it removes its temporaries and
// leaves any existing dataset of that prefix untouched. Several datasets that belong together
// (tokens + sidecars) call prepare() on each first, so every slow or failure-prone step is done
// before the first rename.
class IndexedDatasetWriter {
 public:
  IndexedDatasetWriter(std::string prefix, IndexedDType dtype);
  ~IndexedDatasetWriter();
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;

  // Appends one document of `count` elements of the dataset's dtype.
  void add_document(const void* elements, std::size_t count);
  template <class T>
  void add_document(std::span<const T> elements) {
    check_element(sizeof(T));
    add_document(elements.data(), elements.size());
  }
  // Writes the .idx temporary and fsyncs both; no more documents after it.
  void prepare();
  // prepare() if not yet done, then renames .bin and .idx into place (and fsyncs the folder).
  void commit();

  std::size_t documents() const { return lengths_.size(); }
  std::uint64_t elements() const { return elements_; }
  const std::string& prefix() const { return prefix_; }

 private:
  void check_element(std::size_t bytes) const;
  std::string prefix_;
  IndexedDType dtype_;
  std::string bin_tmp_, idx_tmp_;
  int bin_fd_ = -1;
  std::vector<std::int32_t> lengths_;
  std::uint64_t elements_ = 0;
  bool prepared_ = false, committed_ = false;
};

// Maps both files read-only and checks them (magic, version, dtype, sizes, pointers); every
// error names the file and what was expected.
class IndexedDatasetReader {
 public:
  explicit IndexedDatasetReader(const std::string& prefix);
  ~IndexedDatasetReader();
  IndexedDatasetReader(const IndexedDatasetReader&) = delete;
  IndexedDatasetReader& operator=(const IndexedDatasetReader&) = delete;

  IndexedDType dtype() const { return dtype_; }
  std::size_t sequences() const { return sequences_; }
  std::size_t documents() const { return doc_entries_ - 1; }
  std::uint64_t elements() const { return elements_; }
  // The .idx arrays sit at unaligned offsets (after a 34-byte header), so they are read
  // element by element rather than exposed as spans.
  std::int32_t length(std::size_t i) const;
  std::int64_t pointer(std::size_t i) const;
  std::int64_t document_index(std::size_t j) const;  // j in [0, documents()]

  // Throws, naming the file and what changed, when the .idx or .bin is no longer the file
  // mapped at construction: its size or mtime differs (written in place, appended, truncated)
  // or its path names another file or none (rewritten and renamed over, removed). A few
  // syscalls, no reads; callers check around their reads (IndexedSource::next).
  void check_unchanged() const;

  // Sequence i as T, which must match the dtype's element size.
  template <class T>
  std::span<const T> sequence(std::size_t i) const {
    const void* p = sequence_bytes(i, sizeof(T));
    return {static_cast<const T*>(p), static_cast<std::size_t>(length(i))};
  }

 private:
  const void* sequence_bytes(std::size_t i, std::size_t element_bytes) const;
  struct Mapping;
  std::string prefix_;
  std::unique_ptr<Mapping> idx_, bin_;
  IndexedDType dtype_{};
  std::size_t sequences_ = 0, doc_entries_ = 0;
  const unsigned char *lengths_ = nullptr, *pointers_ = nullptr, *doc_index_ = nullptr;
  std::uint64_t elements_ = 0;
};

}  // namespace vpmoe
