// ParallelLayout arithmetic: Megatron's rank order (tp fastest, then ep, then expert dp), the
// group lists, describe() and the sizes that cannot be laid out.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "vpmoe/error.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using Groups = std::set<std::vector<int>>;

// The distinct groups of every rank of world, by one of the layout's group functions.
template <class F>
Groups all_groups(int world, int tp, int ep, F group) {
  Groups g;
  for (int r = 0; r < world; ++r) g.insert(group(ParallelLayout::make(world, r, tp, ep)));
  return g;
}

Groups tp_groups(int w, int tp, int ep) {
  return all_groups(w, tp, ep, [](const ParallelLayout& l) { return l.tp_group(); });
}
Groups dp_groups(int w, int tp, int ep) {
  return all_groups(w, tp, ep, [](const ParallelLayout& l) { return l.dp_group(); });
}
Groups ep_groups(int w, int tp, int ep) {
  return all_groups(w, tp, ep, [](const ParallelLayout& l) { return l.ep_group(); });
}
Groups edp_groups(int w, int tp, int ep) {
  return all_groups(w, tp, ep, [](const ParallelLayout& l) { return l.expert_dp_group(); });
}

// Megatron's order written out for world 8 (the lists a Megatron user would print).
TEST(ParallelLayout, World8MatchesMegatronsGroups) {
  // ep 1: experts replicated like dense parameters.
  EXPECT_EQ(ep_groups(8, 1, 1), (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
  EXPECT_EQ(edp_groups(8, 1, 1), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}}));
  // ep 2: neighbours share tokens, every other rank holds the same experts.
  EXPECT_EQ(ep_groups(8, 1, 2), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(edp_groups(8, 1, 2), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  // ep 4.
  EXPECT_EQ(ep_groups(8, 1, 4), (Groups{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(edp_groups(8, 1, 4), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  // ep 8: every rank its own experts.
  EXPECT_EQ(ep_groups(8, 1, 8), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}}));
  EXPECT_EQ(edp_groups(8, 1, 8), (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
  for (int ep : {1, 2, 4, 8}) {
    EXPECT_EQ(dp_groups(8, 1, ep), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}})) << "ep " << ep;
    EXPECT_EQ(tp_groups(8, 1, ep), (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
  }
  // tp 2, ep 2: tp innermost, ep over the tp blocks, dp over all blocks.
  EXPECT_EQ(tp_groups(8, 2, 2), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(dp_groups(8, 2, 2), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  EXPECT_EQ(ep_groups(8, 2, 2), (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(edp_groups(8, 2, 2), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
}

// For every layout of 8 and 16: the groups partition the world, each rank's group ranks agree
// with its position in the lists, and ep x expert dp tiles dp.
TEST(ParallelLayout, GroupsPartitionTheWorldAndAgreeWithTheRanks) {
  for (int world : {8, 16})
    for (int tp : {1, 2, 4})
      for (int ep : {1, 2, 4, 8}) {
        if (world % (tp * ep) != 0) continue;
        SCOPED_TRACE("world " + std::to_string(world) + " tp " + std::to_string(tp) + " ep " +
                     std::to_string(ep));
        for (const Groups& gs : {tp_groups(world, tp, ep), dp_groups(world, tp, ep),
                                 ep_groups(world, tp, ep), edp_groups(world, tp, ep)}) {
          std::multiset<int> seen;
          for (const auto& g : gs) seen.insert(g.begin(), g.end());
          ASSERT_EQ(int(seen.size()), world);
          for (int r = 0; r < world; ++r) ASSERT_EQ(seen.count(r), 1u);
        }
        for (int r = 0; r < world; ++r) {
          const auto l = ParallelLayout::make(world, r, tp, ep);
          EXPECT_EQ(l.tp_group()[std::size_t(l.tp_rank())], r);
          EXPECT_EQ(l.dp_group()[std::size_t(l.dp_rank())], r);
          EXPECT_EQ(l.ep_group()[std::size_t(l.ep_rank())], r);
          EXPECT_EQ(l.expert_dp_group()[std::size_t(l.expert_dp_rank())], r);
          EXPECT_EQ(int(l.dp_group().size()), l.dp());
          EXPECT_EQ(l.ep * l.expert_dp(), l.dp());
          // Ranks of one tp block share ep and expert-dp coordinates.
          EXPECT_EQ(l.ep_rank(), (r / tp) % ep);
          EXPECT_EQ(l.expert_dp_rank(), r / (tp * ep));
        }
      }
}

TEST(ParallelLayout, ExpertsAreSplitByEpRank) {
  const auto l = ParallelLayout::make(8, 5, 1, 4);
  EXPECT_EQ(l.ep_rank(), 1);
  EXPECT_EQ(l.experts_per_rank(64), 16);
  EXPECT_EQ(l.first_expert(64), 16);
}

TEST(ParallelLayout, DescribePrintsTheExactLine) {
  EXPECT_EQ(ParallelLayout::make(8, 3, 1, 4).describe(64),
            "parallel: world 8, tp 1, dp 8, ep 4 (expert dp 2); experts per rank 16 of 64");
  EXPECT_EQ(ParallelLayout::make(1, 0, 1, 1).describe(8),
            "parallel: world 1, tp 1, dp 1, ep 1 (expert dp 1); experts per rank 8 of 8");
  EXPECT_EQ(ParallelLayout::make(8, 0, 2, 2).describe(16),
            "parallel: world 8, tp 2, dp 4, ep 2 (expert dp 2); experts per rank 8 of 16");
}

TEST(ParallelLayout, ImpossibleSizesThrow) {
  EXPECT_THROW(ParallelLayout::make(6, 0, 1, 4), Error);  // 6 not a multiple of 4
  EXPECT_THROW(ParallelLayout::make(8, 0, 3, 1), Error);
  EXPECT_THROW(ParallelLayout::make(8, 0, 2, 8), Error);  // tp x ep = 16 > 8
  EXPECT_THROW(ParallelLayout::make(8, 0, 0, 1), Error);
  EXPECT_THROW(ParallelLayout::make(8, 0, 1, 0), Error);
  EXPECT_THROW(ParallelLayout::make(8, 8, 1, 1), Error);  // rank out of range
  EXPECT_THROW(ParallelLayout::make(0, 0, 1, 1), Error);
  try {
    ParallelLayout::make(6, 0, 1, 4);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("6"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
