#pragma once
// Every collective of a Comm checked against values computed on the host, for any group size:
// the MPI tests run them on CPU tensors, the NCCL tests on CUDA tensors. Every rank of the
// group runs the same checks in the same order. Values are small integers, exact in bf16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/parallel.h"
#include "vpmoe/tensor.h"

namespace vpmoe::testing {

inline std::int64_t triangle(int R) {
  return std::int64_t(R) * (R + 1) / 2;
}

// In place; rank r contributes r + 1 + i % 5 at i.
inline void check_all_reduce(Comm& c, Device d, DType dt, bool async) {
  const int R = c.size(), me = c.rank(), n = 37;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[std::size_t(i)] = float(me + 1 + i % 5);
  Tensor t = Tensor::from_floats(v, {n}, dt, d);
  CommHandle h = c.all_reduce_sum(t, async);
  if (async) {
    ASSERT_TRUE(h);
    h->wait();
  } else {
    EXPECT_FALSE(h);
  }
  const std::vector<float> got = t.to_floats();
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got[std::size_t(i)], float(triangle(R) + R * (i % 5)))
        << dtype_name(dt) << " at " << i << (async ? " (async)" : "");
}

// Two in flight at once, waited in reverse order.
inline void check_two_async_all_reduces(Comm& c, Device d) {
  const int R = c.size(), me = c.rank();
  Tensor a = Tensor::from_floats(std::vector<float>(1000, float(me)), {10, 100}, DType::f32, d);
  Tensor b = Tensor::from_floats(std::vector<float>(10, 1.f), {10}, DType::f32, d);
  CommHandle ha = c.all_reduce_sum(a, true), hb = c.all_reduce_sum(b, true);
  hb->wait();
  ha->wait();
  for (float x : a.to_floats()) ASSERT_EQ(x, float(triangle(R) - R));
  for (float x : b.to_floats()) ASSERT_EQ(x, float(R));
}

// in [R * n] with (r + 1) * (j % 7) -> out [n]: block me of the sum.
inline void check_reduce_scatter(Comm& c, Device d, DType dt, bool async) {
  const int R = c.size(), me = c.rank(), n = 9;
  std::vector<float> v(std::size_t(R * n));
  for (int j = 0; j < R * n; ++j) v[std::size_t(j)] = float((me + 1) * (j % 7));
  Tensor in = Tensor::from_floats(v, {R * n}, dt, d);
  Tensor out = Tensor::empty({n}, dt, d);
  CommHandle h = c.reduce_scatter_sum(in, out, async);
  if (h) h->wait();
  const std::vector<float> got = out.to_floats();
  for (int k = 0; k < n; ++k)
    ASSERT_EQ(got[std::size_t(k)], float(triangle(R) * ((me * n + k) % 7))) << dtype_name(dt);
}

// in [n] with 10 me + k -> out [R * n], rank r's block at r * n.
inline void check_all_gather(Comm& c, Device d, DType dt, bool async) {
  const int R = c.size(), me = c.rank(), n = 6;
  std::vector<float> v(n);
  for (int k = 0; k < n; ++k) v[std::size_t(k)] = float(10 * me + k);
  Tensor in = Tensor::from_floats(v, {n}, dt, d);
  Tensor out = Tensor::empty({R, n}, dt, d);
  CommHandle h = c.all_gather(in, out, async);
  if (h) h->wait();
  const std::vector<float> got = out.to_floats();
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < n; ++k)
      ASSERT_EQ(got[std::size_t(r * n + k)], float(10 * r + k)) << dtype_name(dt);
}

// Rows of 3 f32 from s to d: count(s, d) of them, row j = {s, d, j} coded in the values. out
// has spare rows, which stay untouched.
template <class Count>
void check_all_to_all(Comm& c, Device dev, Count count, DType dt = DType::f32) {
  const int R = c.size(), me = c.rank(), W = 3;
  auto value = [](int s, int d, int j, int col) {
    return float(s * 100 + d * 10 + j + col * 1000);
  };
  std::vector<std::int64_t> send(static_cast<std::size_t>(R)), recv(static_cast<std::size_t>(R));
  std::vector<float> in;
  for (int d = 0; d < R; ++d) {
    send[std::size_t(d)] = count(me, d), recv[std::size_t(d)] = count(d, me);
    for (int j = 0; j < count(me, d); ++j)
      for (int col = 0; col < W; ++col) in.push_back(value(me, d, j, col));
  }
  std::int64_t rows_in = std::int64_t(in.size()) / W, rows_out = 0;
  for (auto r : recv) rows_out += r;
  Tensor tin = Tensor::from_floats(in, {rows_in, W}, dt, dev);
  const std::int64_t spare = 2;
  Tensor tout = Tensor::from_floats(std::vector<float>(std::size_t((rows_out + spare) * W), -1.f),
                                    {rows_out + spare, W}, dt, dev);
  c.all_to_all(tin, send, tout, recv);
  const std::vector<float> got = tout.to_floats();
  std::size_t at = 0;
  for (int s = 0; s < R; ++s)
    for (int j = 0; j < count(s, me); ++j)
      for (int col = 0; col < W; ++col, ++at)
        ASSERT_EQ(got[at], value(s, me, j, col)) << "row " << j << " from rank " << s;
  for (; at < got.size(); ++at) ASSERT_EQ(got[at], -1.f) << "a spare row was written";
}

inline void check_all_to_alls(Comm& c, Device d) {
  // Uneven, with zero counts (self included at some ranks).
  check_all_to_all(c, d, [](int s, int t) { return (s + 2 * t) % 3; });
  // Skewed: every rank sends everything to rank 0.
  check_all_to_all(c, d, [](int s, int t) { return t == 0 ? 4 + s : 0; });
  // Nothing at all.
  check_all_to_all(c, d, [](int, int) { return 0; });
  // Wider rows of another dtype.
  check_all_to_all(
      c, d, [](int s, int t) { return 1 + (s * 3 + t) % 2; }, DType::i64);
}

inline void check_broadcast(Comm& c, Device d) {
  const int R = c.size(), me = c.rank(), root = R - 1;
  std::vector<float> v(33);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i * 3 + 1);
  Tensor t =
      Tensor::from_floats(me == root ? v : std::vector<float>(v.size(), 0.f), {33}, DType::bf16, d);
  c.broadcast(t, root);
  EXPECT_EQ(t.to_floats(), v);
}

inline void check_broadcast_bytes(Comm& c) {
  std::vector<std::byte> b(300);
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = c.rank() == 0 ? std::byte((i * 7 + 3) & 255) : std::byte(0);
  c.broadcast_bytes(b, 0);
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], std::byte((i * 7 + 3) & 255));
}

inline void check_host_sums(Comm& c) {
  const int R = c.size(), me = c.rank();
  std::vector<std::int64_t> v{me + 1, (std::int64_t(1) << 40) * (me + 1)};
  c.all_reduce_sum(v);
  EXPECT_EQ(v[0], triangle(R));
  EXPECT_EQ(v[1], (std::int64_t(1) << 40) * triangle(R));
  std::vector<double> dv{0.5 * (me + 1)};
  c.all_reduce_sum(dv);
  EXPECT_DOUBLE_EQ(dv[0], 0.5 * double(triangle(R)));
  std::vector<float> fv(1000, 1.f);
  c.all_reduce_sum(fv);
  for (float x : fv) ASSERT_EQ(x, float(R));
}

// Every collective; sums in each dtype of sum_types.
inline void check_every_collective(Comm& c, Device d, const std::vector<DType>& sum_types) {
  for (DType dt : sum_types) {
    check_all_reduce(c, d, dt, false);
    check_all_reduce(c, d, dt, true);
    check_reduce_scatter(c, d, dt, dt == DType::f32);
    check_all_gather(c, d, dt, dt != DType::f32);
  }
  check_two_async_all_reduces(c, d);
  check_all_to_alls(c, d);
  check_broadcast(c, d);
  check_broadcast_bytes(c);
  check_host_sums(c);
  c.barrier();
}

// Each group of ps holds exactly the world ranks its layout says, in that order: the members
// sum their world ranks (host and device), their count and their squares.
inline void check_group(Comm& g, const std::vector<int>& members, int world_rank, Device d) {
  SCOPED_TRACE("group " + g.name());
  ASSERT_EQ(g.size(), int(members.size()));
  const auto at = std::find(members.begin(), members.end(), world_rank);
  ASSERT_NE(at, members.end());
  EXPECT_EQ(g.rank(), int(at - members.begin()));
  std::int64_t sum = 0, squares = 0;
  for (int m : members) sum += m, squares += std::int64_t(m) * m;
  std::vector<std::int64_t> v{world_rank, 1, std::int64_t(world_rank) * world_rank};
  g.all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<std::int64_t>{sum, std::int64_t(members.size()), squares}));
  Tensor t = Tensor::from_floats({float(world_rank)}, {1}, DType::f32, d);
  g.all_reduce_sum(t);
  EXPECT_EQ(t.item(), float(sum));
}

inline void check_parallel_state(const std::shared_ptr<Comm>& world, int tp, int ep, Device d) {
  SCOPED_TRACE("tp " + std::to_string(tp) + ", ep " + std::to_string(ep));
  auto ps = make_parallel_state(world, tp, ep);
  const ParallelLayout& l = ps->layout;
  EXPECT_EQ(l.world, world->size());
  EXPECT_EQ(l.rank, world->rank());
  check_group(*ps->tp, l.tp_group(), l.rank, d);
  check_group(*ps->dp, l.dp_group(), l.rank, d);
  check_group(*ps->ep, l.ep_group(), l.rank, d);
  check_group(*ps->expert_dp, l.expert_dp_group(), l.rank, d);
  EXPECT_EQ(ps->tp->name(), "tp");
  EXPECT_EQ(ps->dp->name(), "dp");
  EXPECT_EQ(ps->ep->name(), "ep");
  EXPECT_EQ(ps->expert_dp->name(), "expert_dp");
}

}  // namespace vpmoe::testing
