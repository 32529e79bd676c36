// libFuzzer target for the indexed dataset reader (PREFIX.idx + PREFIX.bin). The input is
// both files: a little-endian u32 n, then the .idx (the next n bytes, fewer when the input
// ends) and the .bin (the rest). Opening either succeeds, and then every sequence and document
// index entry reads back consistently (lengths sum to elements(), pointers tile the .bin, the
// document index runs from 0 to sequences()), or throws vpmoe::Error naming the file. Any other
// exception, a crash, UB or a leak is a bug.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace {

const char* const kTarget = "fuzz_indexed_dataset";

template <class T>
std::uint64_t read_all(const vpmoe::IndexedDatasetReader& r) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < r.sequences(); ++i) {
    const auto s = r.sequence<T>(i);
    if (s.size() != static_cast<std::size_t>(r.length(i))) vpmoe::fuzz::bug(kTarget, "length");
    volatile T sink{};
    for (const T& v : s) sink = v;  // every element is inside the mapping (ASan would say)
    n += s.size();
  }
  return n;
}

std::uint64_t read_all_as_dtype(const vpmoe::IndexedDatasetReader& r) {
  using D = vpmoe::IndexedDType;
  switch (r.dtype()) {
    case D::u8:
      return read_all<std::uint8_t>(r);
    case D::i8:
      return read_all<std::int8_t>(r);
    case D::i16:
      return read_all<std::int16_t>(r);
    case D::u16:
      return read_all<std::uint16_t>(r);
    case D::i32:
      return read_all<std::int32_t>(r);
    case D::f32:
      return read_all<float>(r);
    case D::i64:
      return read_all<std::int64_t>(r);
    case D::f64:
      return read_all<double>(r);
  }
  vpmoe::fuzz::bug(kTarget, "a dtype outside the enum was accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  std::uint32_t n;
  std::memcpy(&n, data, 4);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::size_t idx_bytes = std::min<std::size_t>(n, rest.size());
  const std::string prefix = vpmoe::fuzz::temp_dir() + "/data";
  vpmoe::fuzz::write_file(prefix + ".idx", rest.substr(0, idx_bytes));
  vpmoe::fuzz::write_file(prefix + ".bin", rest.substr(idx_bytes));
  try {
    const vpmoe::IndexedDatasetReader r(prefix);
    if (read_all_as_dtype(r) != r.elements()) vpmoe::fuzz::bug(kTarget, "elements()");
    std::uint64_t bytes = 0;
    const std::size_t esize = vpmoe::element_size(r.dtype());
    for (std::size_t i = 0; i < r.sequences(); ++i) {
      if (r.pointer(i) != static_cast<std::int64_t>(bytes)) vpmoe::fuzz::bug(kTarget, "pointer");
      bytes += static_cast<std::uint64_t>(r.length(i)) * esize;
    }
    if (bytes != rest.size() - idx_bytes) vpmoe::fuzz::bug(kTarget, "the .bin is not tiled");
    if (r.document_index(0) != 0 ||
        r.document_index(r.documents()) != static_cast<std::int64_t>(r.sequences()))
      vpmoe::fuzz::bug(kTarget, "the document index does not run from 0 to sequences()");
    for (std::size_t j = 1; j <= r.documents(); ++j)
      if (r.document_index(j) < r.document_index(j - 1))
        vpmoe::fuzz::bug(kTarget, "the document index decreases");
    r.check_unchanged();
    // Out-of-range and wrong-width reads are refused, not performed.
    try {
      (void)r.sequence<std::uint8_t>(r.sequences());
      vpmoe::fuzz::bug(kTarget, "a sequence past the end was read");
    } catch (const vpmoe::Error&) {
    }
  } catch (const vpmoe::Error& e) {
    if (std::string(e.what()).rfind("indexed dataset " + prefix, 0) != 0)
      vpmoe::fuzz::bug(kTarget, std::string("an error that does not name the file: ") + e.what());
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("an exception other than vpmoe::Error: ") + e.what());
  }
  return 0;
}
