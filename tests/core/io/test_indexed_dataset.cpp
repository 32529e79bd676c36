// Megatron indexed datasets: byte layout, round trip, reader checks, atomic commit.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

struct TempDir {
  fs::path dir = fs::temp_directory_path() /
                 ("vpmoe_io_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                  "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(dir); }
  ~TempDir() { fs::remove_all(dir); }
  std::string prefix(const std::string& name) const { return (dir / name).string(); }
};

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

TEST(IndexedDataset, IdxBytesAreMegatronsLayout) {
  TempDir t;
  const std::string prefix = t.prefix("ds");
  {
    IndexedDatasetWriter w(prefix, IndexedDType::i32);
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{7, 8, 199999}));
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{199999}));
    w.commit();
  }
  // The table of spec/data.md §1, written out by hand.
  std::string want("MMIDIDX\0\0", 9);
  put<std::uint64_t>(want, 1);  // version
  put<std::uint8_t>(want, 4);   // int32
  put<std::uint64_t>(want, 2);  // sequences
  put<std::uint64_t>(want, 3);  // document-index entries
  put<std::int32_t>(want, 3);   // lengths
  put<std::int32_t>(want, 1);
  put<std::int64_t>(want, 0);  // byte pointers
  put<std::int64_t>(want, 12);
  put<std::int64_t>(want, 0);  // document index
  put<std::int64_t>(want, 1);
  put<std::int64_t>(want, 2);
  EXPECT_EQ(read_bytes(prefix + ".idx"), want);
  std::string bin;
  for (std::int32_t v : {7, 8, 199999, 199999}) put(bin, v);
  EXPECT_EQ(read_bytes(prefix + ".bin"), bin);
}

TEST(IndexedDataset, RoundTripsEveryDtypeItIsUsedWith) {
  TempDir t;
  std::vector<std::vector<std::int32_t>> docs = {{1, 2, 3}, {}, {201087}, {5, 6}};
  std::vector<std::vector<std::uint8_t>> masks = {{0, 1, 1}, {}, {1}, {0, 0}};
  {
    IndexedDatasetWriter w(t.prefix("tok"), IndexedDType::i32);
    IndexedDatasetWriter m(t.prefix("mask"), IndexedDType::u8);
    for (std::size_t i = 0; i < docs.size(); ++i) {
      w.add_document(std::span<const std::int32_t>(docs[i]));
      m.add_document(std::span<const std::uint8_t>(masks[i]));
    }
    EXPECT_EQ(w.elements(), 6u);
    w.commit();
    m.commit();
  }
  IndexedDatasetReader r(t.prefix("tok")), rm(t.prefix("mask"));
  ASSERT_EQ(r.sequences(), docs.size());
  EXPECT_EQ(r.documents(), docs.size());
  EXPECT_EQ(r.dtype(), IndexedDType::i32);
  EXPECT_EQ(rm.dtype(), IndexedDType::u8);
  EXPECT_EQ(r.elements(), 6u);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    auto s = r.sequence<std::int32_t>(i);
    EXPECT_EQ(std::vector<std::int32_t>(s.begin(), s.end()), docs[i]);
    auto m = rm.sequence<std::uint8_t>(i);
    EXPECT_EQ(std::vector<std::uint8_t>(m.begin(), m.end()), masks[i]);
    EXPECT_EQ(r.length(i), rm.length(i));
  }
  EXPECT_THROW(r.sequence<std::uint8_t>(0), Error);  // wrong element size
  EXPECT_THROW(r.sequence<std::int32_t>(4), Error);  // past the end
}

TEST(IndexedDataset, WithoutCommitNothingIsLeftAndTheOldDatasetSurvives) {
  TempDir t;
  const std::string prefix = t.prefix("keep");
  {
    IndexedDatasetWriter w(prefix, IndexedDType::i32);
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{42}));
    w.commit();
  }
  const std::string before = read_bytes(prefix + ".idx") + read_bytes(prefix + ".bin");
  {
    IndexedDatasetWriter w(prefix, IndexedDType::i32);
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{1, 2, 3}));
    // destroyed without commit, as after an error
  }
  EXPECT_EQ(read_bytes(prefix + ".idx") + read_bytes(prefix + ".bin"), before);
  std::size_t files = 0;
  for (auto& e : fs::directory_iterator(t.dir)) files += !e.path().empty();
  EXPECT_EQ(files, 2u);  // no temporaries left
}

TEST(IndexedDataset, PreparedButNotCommittedLeavesNothingEither) {
  TempDir t;
  const std::string prefix = t.prefix("staged");
  {
    IndexedDatasetWriter w(prefix, IndexedDType::u8);
    w.add_document(std::span<const std::uint8_t>(std::vector<std::uint8_t>{1, 0, 1}));
    w.prepare();  // both temporaries complete and fsynced, nothing renamed yet
    EXPECT_FALSE(fs::exists(prefix + ".bin"));
    EXPECT_FALSE(fs::exists(prefix + ".idx"));
    EXPECT_THROW(w.add_document(std::span<const std::uint8_t>()), Error);
  }
  EXPECT_TRUE(fs::is_empty(t.dir));
}

std::string error_of(const std::string& prefix) {
  try {
    IndexedDatasetReader r(prefix);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(IndexedDataset, ReaderNamesTheFileAndWhatWasExpected) {
  TempDir t;
  const std::string prefix = t.prefix("bad");
  {
    IndexedDatasetWriter w(prefix, IndexedDType::i32);
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{1, 2}));
    w.commit();
  }
  const std::string idx = read_bytes(prefix + ".idx"), bin = read_bytes(prefix + ".bin");
  auto write = [&](const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  };
  auto expect = [&](const std::string& needle) {
    const std::string msg = error_of(prefix);
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(prefix), std::string::npos) << msg;
  };
  std::string b = idx;
  b[0] = 'X';
  write(prefix + ".idx", b);
  expect("magic");
  b = idx;
  b[9] = 2;
  write(prefix + ".idx", b);
  expect("expected version 1, found 2");
  b = idx;
  b[17] = 9;
  write(prefix + ".idx", b);
  expect("dtype code 1..8, found 9");
  write(prefix + ".idx", idx.substr(0, idx.size() - 1));
  expect("need");
  b = idx;  // a sequence count that would wrap the size arithmetic
  for (int i = 18; i < 26; ++i) b[i] = '\xff';
  write(prefix + ".idx", b);
  expect("more than a file of");
  b = idx.substr(0, 34 + 4 + 8);  // header, one length, one pointer
  b[26] = 3;                      // document index 0, 1 -> 0, 2, 1
  for (std::int64_t d : {0, 2, 1}) put(b, d);
  write(prefix + ".idx", b);
  expect("document index entry 2: expected >= 2, found 1");
  write(prefix + ".idx", idx + '\0');  // Megatron's multimodal sequence modes
  expect("multimodal");
  write(prefix + ".idx", idx);
  write(prefix + ".bin", bin.substr(0, 4));
  expect("expected 8 bytes");
  fs::remove(prefix + ".bin");
  expect("cannot open");
}

TEST(IndexedDataset, ReaderNoticesAFileChangedUnderIt) {
  TempDir t;
  const std::string prefix = t.prefix("live");
  auto make = [&] {
    IndexedDatasetWriter w(prefix, IndexedDType::i32);
    w.add_document(std::span<const std::int32_t>(std::vector<std::int32_t>{1, 2}));
    w.commit();
  };
  auto change_of = [](const IndexedDatasetReader& r) -> std::string {
    try {
      r.check_unchanged();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  auto expect = [](const std::string& msg, const std::string& path, const std::string& what) {
    EXPECT_NE(msg.find("indexed dataset " + path + ": changed while the run reads it: " + what),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("expected the file as it was opened"), std::string::npos) << msg;
  };
  make();
  {  // appended to
    IndexedDatasetReader r(prefix);
    EXPECT_EQ(change_of(r), "");
    std::ofstream(prefix + ".bin", std::ios::binary | std::ios::app) << "xyzw";
    expect(change_of(r), prefix + ".bin", "its size changed from 8 to 12 bytes");
  }
  make();
  {  // written in place: the same size, a later mtime
    IndexedDatasetReader r(prefix);
    const auto when = fs::last_write_time(prefix + ".idx");
    {
      std::fstream f(prefix + ".idx", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(34);
      f.put('\x05');
    }
    fs::last_write_time(prefix + ".idx", when + std::chrono::seconds(5));
    expect(change_of(r), prefix + ".idx", "it was written in place (modified at ");
  }
  make();
  {  // written again and renamed over (a new preprocess run), then removed
    IndexedDatasetReader r(prefix);
    make();
    expect(change_of(r), prefix + ".idx", "another file was put at its path (inode ");
    IndexedDatasetReader again(prefix);
    fs::remove(prefix + ".bin");
    expect(change_of(again), prefix + ".bin", "its path no longer names it (");
  }
}

}  // namespace
}  // namespace vpmoe
