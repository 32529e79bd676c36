// BlendedDataset and IndexedSource: the greedy blend gives each dataset its weight's share at
// every prefix; the source's targets are the window shifted by one and its mask the sidecar
// shifted with them; seek(p) continues exactly as not stopping; with 2 data-parallel ranks each
// rank gets its slice of the same global batch that one rank would read.
#include <gtest/gtest.h>

#include <cmath>

#include "data/blended_dataset.h"
#include "host/data/dataset_fixture.h"
#include "train/batch_source.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::data::BlendedDataset;
using host::train::Batch;
using host::train::IndexedSource;

class BlendTest : public DatasetDir {};

std::vector<float> values(const Tensor& t) {
  return t.defined() ? t.to_floats() : std::vector<float>{};
}

TEST_F(BlendTest, GreedyRuleKeepsEveryPrefixAtItsWeights) {
  const std::string a = write("a", {50, 60, 70}, false, 0);
  const std::string b = write("b", {40, 30}, false, 100);  // documents 100+: tokens >= 100000
  BlendedDataset blend({a, b}, {3, 1}, 4, 200, 5);
  ASSERT_EQ(blend.samples(), 200);
  EXPECT_EQ(blend.counts(), (std::vector<std::int64_t>{150, 50}));
  int from_a = 0;
  for (std::int64_t i = 0; i < 200; ++i) {
    std::vector<std::int32_t> w(5);
    blend.window(i, w.data(), nullptr);
    from_a += w[0] < 100000;
    EXPECT_LE(std::abs(double(from_a) - 0.75 * double(i + 1)), 1.0) << "after sample " << i;
  }
  BlendedDataset shorter({a, b}, {3, 1}, 4, 37, 5);
  for (std::int64_t i = 0; i < 37; ++i) {
    std::vector<std::int32_t> x(5), y(5);
    blend.window(i, x.data(), nullptr);
    shorter.window(i, y.data(), nullptr);
    EXPECT_EQ(x, y) << "a shorter blend is a prefix of a longer one, sample " << i;
  }
  EXPECT_THROW(BlendedDataset({a, b}, {1}, 4, 10, 5), Error);
  EXPECT_THROW(BlendedDataset({a, b}, {1, 0}, 4, 10, 5), Error);
}

TEST_F(BlendTest, SourceShiftsTargetsAndMask) {
  auto blend = std::make_shared<const BlendedDataset>(
      std::vector<std::string>{write("chat", {13, 9, 21, 8}, true)}, std::vector<double>{}, 6, 8,
      1);
  IndexedSource src(blend, 2, 2, 0, 1, Device::cpu());
  for (int mb = 0; mb < 4; ++mb) {
    const Batch b = src.next();
    ASSERT_EQ(b.batch, 2);
    ASSERT_EQ(b.seq_len, 6);
    const auto ids = values(b.ids), tg = values(b.targets), m = values(b.mask);
    ASSERT_EQ(m.size(), 12u);
    for (int s = 0; s < 2; ++s) {
      std::vector<std::int32_t> w(7);
      std::vector<std::uint8_t> wm(7);
      blend->window(mb * 2 + s, w.data(), wm.data());
      for (int t = 0; t < 6; ++t) {
        EXPECT_EQ(ids[std::size_t(s * 6 + t)], float(w[std::size_t(t)]));
        EXPECT_EQ(tg[std::size_t(s * 6 + t)], float(w[std::size_t(t + 1)]));
        EXPECT_EQ(m[std::size_t(s * 6 + t)], float(w[std::size_t(t + 1)] % 2))
            << "mask of the label";
      }
    }
  }
  EXPECT_THROW(src.next(), Error) << "8 samples hold 4 micro-batches of 2";
}

TEST_F(BlendTest, SeekContinuesAsNotStopping) {
  auto blend = std::make_shared<const BlendedDataset>(
      std::vector<std::string>{write("t", {31, 17, 45, 22, 9}, false)}, std::vector<double>{}, 5,
      20, 9);
  IndexedSource straight(blend, 2, 1, 0, 1, Device::cpu()),
      resumed(blend, 2, 1, 0, 1, Device::cpu());
  std::vector<std::vector<float>> seq;
  for (int i = 0; i < 10; ++i) {
    const Batch b = straight.next();
    EXPECT_FALSE(b.mask.defined()) << "plain text has no mask";
    seq.push_back(values(b.ids));
  }
  resumed.seek(6);
  EXPECT_EQ(resumed.position(), 6u);
  for (int i = 6; i < 10; ++i) EXPECT_EQ(values(resumed.next().ids), seq[std::size_t(i)]) << i;
}

TEST_F(BlendTest, RanksTakeSlicesOfTheSameGlobalBatch) {
  auto blend = std::make_shared<const BlendedDataset>(
      std::vector<std::string>{write("t", {31, 17, 45, 22, 9, 60}, false)}, std::vector<double>{},
      4, 24, 3);
  // Global batch 4: one rank with micro-batch 2 x 2, or two ranks with micro-batch 1 x 2.
  IndexedSource one(blend, 2, 2, 0, 1, Device::cpu());
  IndexedSource r0(blend, 1, 2, 0, 2, Device::cpu()), r1(blend, 1, 2, 1, 2, Device::cpu());
  EXPECT_EQ(one.steps(), 6);
  EXPECT_EQ(r0.steps(), 6);
  for (int step = 0; step < 6; ++step) {
    std::vector<float> a, b;
    for (int j = 0; j < 2; ++j)
      for (float v : values(one.next().ids)) a.push_back(v);
    for (IndexedSource* r : {&r0, &r1})
      for (int j = 0; j < 2; ++j)
        for (float v : values(r->next().ids)) b.push_back(v);
    EXPECT_EQ(a, b) << "step " << step;
  }
}

}  // namespace
}  // namespace vpmoe::testing
