// The safetensors reader refuses a header that does not describe its file exactly, naming the
// file and the tensor at fault: a length past the end, JSON that is not JSON, an unknown dtype,
// a shape whose bytes differ from its data_offsets, offsets outside the data, overlapping, or
// leaving bytes to no tensor. None of them allocates what the header claims.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "train/safetensors.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using host::train::read_safetensors;
using host::train::write_safetensors;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vpmoe_st_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file of the given header (its length as declared, or `declared` when not -1) and data.
  std::string file(const std::string& header, std::size_t data_bytes, std::int64_t declared = -1) {
    const std::string path = (dir_ / "bad.safetensors").string();
    const std::uint64_t n = declared < 0 ? header.size() : std::uint64_t(declared);
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
    bytes += header + std::string(data_bytes, '\x01');
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // The reader's refusal of path: it must be vpmoe::Error and name the file.
  static std::string refusal(const std::string& path) {
    try {
      read_safetensors(path);
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(path + ": not a valid safetensors file: ", 0), 0u) << what;
      return what;
    }
    ADD_FAILURE() << path << " was read";
    return "";
  }

  fs::path dir_;
};

TEST_F(Safetensors, WriteReturnsTheDigestOfTheFile) {
  std::map<std::string, Tensor> t;
  t["a"] = Tensor::from_floats({1.f, 2.f, 3.f}, {3}, DType::f32);
  const std::string p = (dir_ / "ok.safetensors").string();
  const auto h = write_safetensors(p, t);
  EXPECT_EQ(h.bytes, fs::file_size(p));
  EXPECT_EQ(h.sha256, host::data::hash_file(p).sha256);
  EXPECT_EQ(h.sha256.size(), 64u);
  EXPECT_EQ(read_safetensors(p).at("a").to_floats(), std::vector<float>({1.f, 2.f, 3.f}));
}

TEST_F(Safetensors, HeaderLengthPastTheEnd) {
  const std::string e = refusal(file("{}", 0, 1000));
  EXPECT_NE(e.find("header length 1000 runs past the end of the 10-byte file"), std::string::npos)
      << e;
}

TEST_F(Safetensors, HeaderThatIsNotJson) {
  EXPECT_NE(refusal(file("{\"a\": [", 0)).find("header is not JSON"), std::string::npos);
  EXPECT_NE(refusal(file("[1, 2]", 0)).find("header is not a JSON object"), std::string::npos);
}

TEST_F(Safetensors, UnknownDtype) {
  const std::string e =
      refusal(file(R"({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", 4));
  EXPECT_NE(e.find("tensor \"w\": unknown dtype \"F16\""), std::string::npos) << e;
}

TEST_F(Safetensors, ShapeThatDoesNotMatchTheBytes) {
  const std::string e =
      refusal(file(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8));
  EXPECT_NE(e.find("tensor \"w\": shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8"),
            std::string::npos)
      << e;
  // A shape far larger than the file is refused before anything is allocated.
  const std::string huge = refusal(file(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8));
  EXPECT_NE(huge.find("tensor \"w\": shape [4294967296,4294967296] of F32 needs more bytes than "
                      "the data has"),
            std::string::npos)
      << huge;
  const std::string negative =
      refusal(file(R"({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", 1));
  EXPECT_NE(negative.find("tensor \"w\": shape [-1] has a dimension that is not a count"),
            std::string::npos)
      << negative;
}

// An empty tensor keeps its shape exactly, whatever its other dimensions; one whose other
// dimensions multiply past int64 is refused (its numel overflowed: UBSan, with fuzz_safetensors).
TEST_F(Safetensors, EmptyTensorShapes) {
  const std::string p =
      file(R"({"e": {"dtype": "F32", "shape": [1000000, 0, 3], "data_offsets": [4, 4]},
      "a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})",
           4);
  const auto t = read_safetensors(p);
  EXPECT_EQ(t.at("e").shape(), (Shape{1000000, 0, 3}));
  EXPECT_EQ(t.at("e").nbytes(), 0u);
  EXPECT_EQ(t.at("a").shape(), Shape{});
  const std::string e = refusal(file(R"({"e": {"dtype": "F32", "shape": [4294967296, 4294967296, 0],
      "data_offsets": [0, 0]}})",
                                     0));
  EXPECT_NE(e.find("tensor \"e\": shape [4294967296,4294967296,0] has dimensions whose product "
                   "is past 2^63 - 1"),
            std::string::npos)
      << e;
}

TEST_F(Safetensors, OffsetsOutsideTheData) {
  const std::string e =
      refusal(file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8));
  EXPECT_NE(e.find("tensor \"w\": data_offsets [0, 16] are outside the 8-byte data"),
            std::string::npos)
      << e;
  const std::string reversed =
      refusal(file(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [8, 4]}})", 8));
  EXPECT_NE(reversed.find("tensor \"w\": data_offsets [8, 4] are outside"), std::string::npos)
      << reversed;
  const std::string missing = refusal(file(R"({"w": {"dtype": "U8", "shape": [1]}})", 1));
  EXPECT_NE(missing.find("tensor \"w\": expected data_offsets [begin, end]"), std::string::npos)
      << missing;
}

TEST_F(Safetensors, OverlappingOffsets) {
  const std::string e =
      refusal(file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                   12));
  EXPECT_NE(e.find("tensor \"b\" [4, 12] overlaps tensor \"a\" [0, 8]"), std::string::npos) << e;
}

TEST_F(Safetensors, OffsetsThatDoNotCoverTheData) {
  const std::string gap =
      refusal(file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})",
                   20));
  EXPECT_NE(gap.find("bytes [8, 12) of the data belong to no tensor (next: tensor \"b\" [12, 20])"),
            std::string::npos)
      << gap;
  const std::string tail =
      refusal(file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 12));
  EXPECT_NE(tail.find("the data has 12 bytes, the tensors cover 8 (the last, \"a\", ends there)"),
            std::string::npos)
      << tail;
}

}  // namespace
}  // namespace vpmoe::testing
