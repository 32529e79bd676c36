#pragma once
// Small indexed datasets on disk for the sampler tests: token value = 1000 * document + position
// (so a window shows which stream offsets it came from), and optionally a Harmony loss-mask
// sidecar with mask = token % 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "vpmoe/indexed_dataset.h"

namespace vpmoe::testing {

class DatasetDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vpmoe_data_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Documents of the given lengths; first_doc offsets the document numbers in the tokens.
  std::string write(const std::string& name, const std::vector<int>& lengths, bool harmony,
                    int first_doc = 0) {
    const std::string prefix = path(name);
    IndexedDatasetWriter tokens(harmony ? prefix + "_tokens" : prefix, IndexedDType::i32);
    std::unique_ptr<IndexedDatasetWriter> mask;
    if (harmony)
      mask = std::make_unique<IndexedDatasetWriter>(prefix + "_lossmask", IndexedDType::u8);
    for (std::size_t d = 0; d < lengths.size(); ++d) {
      std::vector<std::int32_t> t;
      std::vector<std::uint8_t> m;
      for (int p = 0; p < lengths[d]; ++p) {
        t.push_back(std::int32_t(1000 * (first_doc + int(d)) + p));
        m.push_back(std::uint8_t(t.back() % 2));
      }
      tokens.add_document(std::span<const std::int32_t>(t));
      if (mask) mask->add_document(std::span<const std::uint8_t>(m));
    }
    tokens.commit();
    if (mask) mask->commit();
    return prefix;
  }

  std::filesystem::path dir_;
};

}  // namespace vpmoe::testing
