// positional.grape_a: ALiBi slopes (powers of two and not), the module, config errors.
#include <gtest/gtest.h>

#include "grape_a.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::grape_a {
namespace {

TEST(GrapeA, SlopesForEightHeadsAreTheSpecsTable) {
  const std::vector<double> want = {0.5,     0.25,     0.125,     0.0625,
                                    0.03125, 0.015625, 0.0078125, 0.00390625};
  EXPECT_EQ(alibi_slopes(8), want);
}

TEST(GrapeA, SlopesForOtherHeadCounts) {
  // 6 heads: the 4-head slopes, then every other slope of the 8-head list.
  const std::vector<double> six = {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125};
  EXPECT_EQ(alibi_slopes(6), six);
  EXPECT_EQ(alibi_slopes(1), std::vector<double>{1.0 / 256});
  for (int n : {3, 5, 12, 24}) {
    const auto s = alibi_slopes(n);
    ASSERT_EQ(s.size(), std::size_t(n));
    for (double v : s) EXPECT_TRUE(v > 0 && v < 1) << n;
  }
  EXPECT_THROW(alibi_slopes(0), Error);
}

Config config(int heads) {
  return parse_config("[model]\nnum_layers = 4\nhidden_size = " + std::to_string(heads * 8) +
                          "\nhead_dim = 8\nnum_attention_heads = " + std::to_string(heads) +
                          "\nnum_query_groups = 1\n",
                      "run.toml");
}

TEST(GrapeA, ModuleGivesSlopesAndNoParameters) {
  const Config cfg = config(8);
  BuildArgs args;
  args.config = &cfg;
  auto p = build(args);
  EXPECT_EQ(p->type(), Positional::Type::additive);
  EXPECT_TRUE(p->parameters().empty());
  EXPECT_EQ(p->spec_name(), "positional.grape_a");
  const auto s = p->slopes().to_floats();
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s[0], 0.5f);
  EXPECT_EQ(s[7], 0.00390625f);
  EXPECT_DOUBLE_EQ(p->flops_per_token(2048), 2.0 * 8 * 2048);
  if (cuda_available()) {
    args.device = Device::cuda(0);
    EXPECT_EQ(build(args)->slopes().to_floats(), s);
  }
}

}  // namespace
}  // namespace vpmoe::grape_a
