// The all-to-all dispatcher against the local one. Alone: over the single-process comm (ep 1)
// it is the local dispatcher bit for bit. Under mpirun -np 2 / -np 4 (ep 2, and ep 2 and 4):
// each rank dispatches its own tokens, a per-expert function runs on the rows that arrive, and
// the dispatched rows, the combine and both backward paths equal, bit for bit, the rows of the
// local dispatcher run on the whole ep group's batch (which every rank rebuilds from the
// seeds). Routing is skewed: ep rank 0 keeps every row at home, some experts get nothing and
// with 4 ranks the last rank's experts get nothing at all.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/ops_cpu/cpu_test_util.h"
#include "moe/all_to_all_dispatcher.h"
#include "moe/local_dispatcher.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

constexpr int E = 16, k = 3;
constexpr std::int64_t H = 5;

struct Batch {
  Tensor x, dout;  // [N, H]
  Routing r;
};

// Source `s` of an ep group of P ranks (group `g` of several): its tokens and routing.
Batch batch_of(int g, int s, int P) {
  std::mt19937 gen(std::uint32_t(1000 + 97 * g + s));
  const std::int64_t N = 6 + 3 * s;
  const int L = E / P;
  std::vector<int> allowed;
  for (int e = 0; e < E; ++e) {
    if (e % 5 == 1) continue;                     // never chosen by anyone
    if (P >= 4 && e / L == P - 1) continue;       // the last rank receives nothing
    if (s == 0 && P > 1 && e / L != 0) continue;  // rank 0 sends nothing to its peers
    allowed.push_back(e);
  }
  std::vector<float> ids, w;
  for (std::int64_t t = 0; t < N; ++t) {
    std::vector<int> pool = allowed;
    std::shuffle(pool.begin(), pool.end(), gen);
    for (int i = 0; i < k; ++i) ids.push_back(float(pool[std::size_t(i)]));
    for (float v : randn(gen, k, 0.1f, 1.f)) w.push_back(v);
  }
  Batch b;
  b.x = rand_tensor(gen, {N, H});
  b.dout = rand_tensor(gen, {N, H});
  b.r.experts = Tensor::from_floats(ids, {N, k}, DType::i32);
  b.r.weights = Tensor::from_floats(w, {N, k}, DType::f32);
  return b;
}

Tensor cat_rows(const std::vector<Tensor>& ts) {
  std::vector<float> all;
  std::int64_t n = 0;
  for (const Tensor& t : ts) {
    const std::vector<float> v = t.to_floats();
    all.insert(all.end(), v.begin(), v.end());
    n += t.size(0);
  }
  return Tensor::from_floats(all, {n, ts.front().size(1)}, ts.front().dtype());
}

// Expert e's function on its rows (and its backward): a * row + b, both depending on e, so a
// row at the wrong expert shows.
Tensor per_expert(const Tensor& rows, const std::vector<std::int64_t>& counts, int first,
                  bool backward) {
  std::vector<float> v = rows.to_floats();
  std::size_t at = 0;
  for (std::size_t e = 0; e < counts.size(); ++e) {
    const float a = 0.5f + 0.125f * float(first + int(e)), b = 0.01f * float(first + int(e));
    for (std::int64_t i = 0; i < counts[e] * H; ++i, ++at) v[at] = a * v[at] + (backward ? 0 : b);
  }
  EXPECT_EQ(at, v.size()) << "row counts do not cover the rows";
  return Tensor::from_floats(v, rows.shape(), DType::f32);
}

std::vector<float> rows_of(const Tensor& t, std::int64_t begin, std::int64_t end) {
  return t.slice(begin, end).to_floats();
}

struct Outputs {
  moe::Dispatched d;
  Tensor out, dy, dweights, dx;
};

Outputs run(moe::TokenDispatcher& disp, const Batch& b, int first) {
  Outputs o;
  o.d = disp.dispatch(b.x, b.r);
  o.out = disp.combine(per_expert(o.d.x, o.d.rows, first, false));
  o.dy = disp.combine_backward(b.dout, o.dweights);
  o.dx = disp.dispatch_backward(per_expert(o.dy, o.d.rows, first, true));
  return o;
}

TEST(AllToAllDispatcher, OneRankIsTheLocalDispatcherBitForBit) {
  const Batch b = batch_of(0, 1, 1);
  moe::LocalDispatcher local(E, Device::cpu());
  moe::AllToAllDispatcher a2a(E, single_process_comm(), Device::cpu());
  EXPECT_EQ(a2a.experts(), E);
  EXPECT_EQ(a2a.local_experts(), E);
  const Outputs want = run(local, b, 0), got = run(a2a, b, 0);
  EXPECT_EQ(got.d.rows, want.d.rows);
  EXPECT_EQ(got.d.x.to_floats(), want.d.x.to_floats());
  EXPECT_EQ(got.out.to_floats(), want.out.to_floats());
  EXPECT_EQ(got.dy.to_floats(), want.dy.to_floats());
  EXPECT_EQ(got.dweights.to_floats(), want.dweights.to_floats());
  EXPECT_EQ(got.dx.to_floats(), want.dx.to_floats());
  EXPECT_EQ(a2a.bytes_sent(), 0) << "nothing leaves the process";
  EXPECT_GE(std::count(want.d.rows.begin(), want.d.rows.end(), 0), 3) << "experts 1, 6, 11";
}

// ep = P over the world's ranks (P divides the world): groups of P consecutive ranks.
void check_expert_parallel(int P) {
  std::shared_ptr<Comm> world = mpi_world_comm();
  const auto ps = make_parallel_state(world, 1, P);
  Comm& ep = *ps->ep;
  ASSERT_EQ(ep.size(), P);
  const int me = ep.rank(), g = ps->layout.expert_dp_rank(), L = E / P;
  const int first = ps->layout.first_expert(E);
  ASSERT_EQ(first, me * L);

  // The reference: the local dispatcher on the whole group's batch, in source order.
  std::vector<Batch> all;
  for (int s = 0; s < P; ++s) all.push_back(batch_of(g, s, P));
  std::vector<Tensor> xs, douts, ids, ws;
  std::int64_t my_token = 0;
  for (int s = 0; s < P; ++s) {
    if (s < me) my_token += all[std::size_t(s)].x.size(0);
    xs.push_back(all[std::size_t(s)].x), douts.push_back(all[std::size_t(s)].dout);
    ids.push_back(all[std::size_t(s)].r.experts), ws.push_back(all[std::size_t(s)].r.weights);
  }
  const Batch whole{cat_rows(xs), cat_rows(douts), Routing{cat_rows(ids), cat_rows(ws), {}}};
  moe::LocalDispatcher local(E, Device::cpu());
  const Outputs want = run(local, whole, 0);
  const Batch& mine = all[std::size_t(me)];
  const std::int64_t N = mine.x.size(0);

  moe::AllToAllDispatcher a2a(E, ps->ep, Device::cpu());
  EXPECT_EQ(a2a.local_experts(), L);
  const Outputs got = run(a2a, mine, first);

  // This rank's experts get the rows one process would give them, in the same order.
  const std::vector<std::int64_t> want_rows(want.d.rows.begin() + first,
                                            want.d.rows.begin() + first + L);
  EXPECT_EQ(got.d.rows, want_rows);
  const std::int64_t row0 = std::accumulate(want.d.rows.begin(), want.d.rows.begin() + first,
                                            std::int64_t(0)),
                     M = std::accumulate(want_rows.begin(), want_rows.end(), std::int64_t(0));
  EXPECT_EQ(got.d.x.to_floats(), rows_of(want.d.x, row0, row0 + M)) << "dispatched rows";
  EXPECT_EQ(got.dy.to_floats(), rows_of(want.dy, row0, row0 + M)) << "expert output grads";
  // And this rank's tokens get their results back.
  EXPECT_EQ(got.out.to_floats(), rows_of(want.out, my_token, my_token + N)) << "combine";
  EXPECT_EQ(got.dweights.to_floats(), rows_of(want.dweights, my_token, my_token + N));
  EXPECT_EQ(got.dx.to_floats(), rows_of(want.dx, my_token, my_token + N)) << "dx";
  if (P >= 4 && me == P - 1) EXPECT_EQ(M, 0) << "the skew should leave the last rank idle";
  EXPECT_GT(std::count(want.d.rows.begin(), want.d.rows.end(), 0), 0);

  // Bytes: the counts once, and each way twice (forward and backward) the rows that cross.
  std::int64_t out_rows = 0, home = 0;
  for (float e : mine.r.experts.to_floats()) (int(e) / L == me ? home : out_rows) += 1;
  const std::int64_t in_rows = M - home;
  if (me == 0) EXPECT_EQ(out_rows, 0) << "ep rank 0 keeps its rows";
  const std::int64_t row_bytes = H * std::int64_t(sizeof(float));
  EXPECT_EQ(a2a.bytes_sent(), (P - 1) * L * std::int64_t(sizeof(std::int64_t)) +
                                  2 * (out_rows + in_rows) * row_bytes);
}

bool have_ranks(int P) {
  if (!mpi_available()) return false;
  const int R = mpi_world_comm()->size();
  return R >= P && R % P == 0;
}

TEST(AllToAllDispatcherMpi, TwoRanksMatchTheLocalDispatcher) {
  if (!have_ranks(2)) GTEST_SKIP() << "run under mpirun -np 2 or 4 (ctest does)";
  check_expert_parallel(2);
}

TEST(AllToAllDispatcherMpi, FourRanksMatchTheLocalDispatcher) {
  if (!have_ranks(4)) GTEST_SKIP() << "run under mpirun -np 4 (ctest does)";
  check_expert_parallel(4);
}

TEST(AllToAllDispatcherMpi, ExpertsMustDivideOverTheGroup) {
  if (!have_ranks(2)) GTEST_SKIP() << "run under mpirun -np 2 or 4 (ctest does)";
  const auto ps = make_parallel_state(mpi_world_comm(), 1, 2);
  EXPECT_THROW(moe::AllToAllDispatcher(15, ps->ep, Device::cpu()), Error);
}

}  // namespace
}  // namespace vpmoe::testing
