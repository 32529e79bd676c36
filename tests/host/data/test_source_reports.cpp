// What the data side reports: a micro-batch's samples (blend sample, dataset sample, stream
// tokens, documents) as the windows hold them, for the log of a skipped step; and a dataset
// file changed under the source (appended to, a sidecar too, replaced) stops the next
// micro-batch with an error naming the file, before any of its tokens are handed out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/blended_dataset.h"
#include "host/data/dataset_fixture.h"
#include "train/batch_source.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::data::BlendedDataset;
using host::train::IndexedSource;

class SourceReports : public DatasetDir {};

std::string error_of(IndexedSource& src) {
  try {
    src.next();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(SourceReports, DescribeNamesEachSampleAndTheDocumentsUnderItsWindow) {
  const std::string a = write("a", {3, 2, 7, 4, 2, 9}, false, 0);
  const std::string b = write("b", {11, 5}, false, 100);
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{a, b},
                                                      std::vector<double>{1, 1}, 5, 12, 3);
  for (std::int64_t i = 0; i < blend->samples(); ++i) {
    // The fixture's token is 1000 * document + position: a document starts where the number
    // or the position run changes (the same document again across an epoch's end).
    std::vector<std::int32_t> w(6);
    blend->window(i, w.data(), nullptr);
    std::string docs;
    for (std::size_t t = 0; t < w.size(); ++t)
      if (t == 0 || w[t] != w[t - 1] + 1)
        docs += (docs.empty() ? "" : ", ") + std::to_string(w[t] / 1000 % 100);
    const std::string d = blend->describe(i);
    const auto& ds = *blend->datasets()[std::size_t(blend->dataset_of(i))];
    EXPECT_EQ(d.rfind("blend sample " + std::to_string(i) + ": " + ds.prefix() + " sample ", 0), 0u)
        << d;
    EXPECT_NE(d.find("), documents " + docs + ")"), std::string::npos) << d << " vs " << docs;
  }
  IndexedSource src(blend, 2, 2, 0, 1, Device::cpu());
  EXPECT_EQ(src.describe(3), "micro-batch 3: " + blend->describe(6) + "; " + blend->describe(7));
}

TEST_F(SourceReports, ManyShortDocumentsAreCounted) {
  const std::string a = write("short", std::vector<int>(40, 1), false);
  host::data::GptDataset ds(a, 20, 2, 1);
  const std::string d = ds.describe(0);
  EXPECT_NE(d.find("(stream tokens ["), std::string::npos) << d;
  EXPECT_NE(d.find(" and 13 more)"), std::string::npos) << "21 documents of one token: " << d;
}

TEST_F(SourceReports, AFileChangedUnderTheSourceStopsItNamingTheFile) {
  const std::string chat = write("chat", {13, 9, 21, 8}, true);
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{chat},
                                                      std::vector<double>{}, 6, 8, 1);
  IndexedSource src(blend, 2, 2, 0, 1, Device::cpu());
  src.next();
  std::ofstream(chat + "_lossmask.bin", std::ios::binary | std::ios::app) << '\x01';
  const std::string sidecar = error_of(src);
  EXPECT_NE(sidecar.find("indexed dataset " + chat +
                         "_lossmask.bin: changed while the run reads it: its size changed from 51 "
                         "to 52 bytes"),
            std::string::npos)
      << sidecar;
  EXPECT_EQ(src.position(), 1u) << "nothing handed out";

  const std::string text = write("text", {31, 17, 45}, false);
  auto plain = std::make_shared<const BlendedDataset>(std::vector<std::string>{text},
                                                      std::vector<double>{}, 5, 12, 9);
  IndexedSource other(plain, 2, 1, 0, 1, Device::cpu());
  other.next();
  write("text", {31, 17, 45}, false);  // the same data written again: another file
  const std::string replaced = error_of(other);
  EXPECT_NE(replaced.find("indexed dataset " + text +
                          ".idx: changed while the run reads it: "
                          "another file was put at its path"),
            std::string::npos)
      << replaced;
}

}  // namespace
}  // namespace vpmoe::testing
