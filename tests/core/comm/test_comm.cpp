// Comm: the single-process group is the identity; MPI_COMM_WORLD sums over every rank (run by
// ctest both alone and under mpirun -np 2, where the expected sums differ).
#include <gtest/gtest.h>

#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

TEST(Comm, SingleProcessIsRankZeroOfOneAndKeepsValues) {
  auto c = single_process_comm();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  std::vector<std::int64_t> v{3, -4, 5};
  c->all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<std::int64_t>{3, -4, 5}));
}

TEST(Comm, MpiWorldSumsOverEveryRank) {
  if (!mpi_available()) {
    EXPECT_THROW(mpi_world_comm(), Error);
    GTEST_SKIP() << "this build has no MPI";
  }
  auto c = mpi_world_comm();
  const int R = c->size(), me = c->rank();
  ASSERT_GE(R, 1);
  ASSERT_LT(me, R);
  // Rank r contributes r + 1 and 10 r (and a large count, past 32 bits).
  std::vector<std::int64_t> v{me + 1, 10 * me, (std::int64_t(1) << 40) * (me + 1)};
  c->all_reduce_sum(v);
  const std::int64_t tri = std::int64_t(R) * (R + 1) / 2;
  EXPECT_EQ(v[0], tri);
  EXPECT_EQ(v[1], 10 * (tri - R));
  EXPECT_EQ(v[2], (std::int64_t(1) << 40) * tri);
  std::vector<double> d{0.5 * (me + 1)};
  c->all_reduce_sum(d);
  EXPECT_DOUBLE_EQ(d[0], 0.5 * double(tri));
}

}  // namespace
}  // namespace vpmoe::testing
