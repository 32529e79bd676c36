// Reductions and seeded init on CUDA against the CPU ops; init must match bit for bit.
#include <string>
#include <vector>

#include "core/ops_cuda/cuda_test_util.h"

namespace vpmoe::testing {
namespace {

const std::int64_t kSizes[] = {1, 7, 1000, 65539, 3000017};
const DType kDtypes[] = {DType::f32, DType::bf16};

Tensor scalar_gpu() {
  return poisoned({1}, DType::f32);
}
Tensor scalar_cpu() {
  return Tensor::empty({1}, DType::f32);
}

TEST(OpsCuda, SumMax) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (std::int64_t n : kSizes) {
      // Positive offset: a sum of mixed signs may cancel and make relative errors meaningless.
      Pair x = random_pair({n}, dt, -0.5f, 1.f);
      Tensor s = scalar_gpu(), sr = scalar_cpu();
      ops::sum(x.dev, s);
      ops::sum(x.cpu, sr);
      EXPECT_LT(rel_err(s, sr), kTolF32) << "sum " << dt_str(dt) << " n " << n;
      Tensor again = scalar_gpu();
      ops::sum(x.dev, again);
      EXPECT_EQ(bytes_of(again), bytes_of(s)) << "sum deterministic";
      Tensor m = scalar_gpu(), mr = scalar_cpu();
      ops::max(x.dev, m);
      ops::max(x.cpu, mr);
      EXPECT_EQ(m.item(), mr.item()) << "max " << dt_str(dt) << " n " << n;
    }
}

TEST(OpsCuda, GlobalL2Norm) {
  VPMOE_REQUIRE_CUDA();
  std::vector<Tensor> dev, host;
  const Shape shapes[] = {{3}, {0}, {1000, 17}, {65539}, {1}, {257, 1025}};
  int i = 0;
  for (const Shape& s : shapes) {
    Pair p = random_pair(s, kDtypes[i++ % 2]);
    dev.push_back(p.dev);
    host.push_back(p.cpu);
  }
  Tensor out = scalar_gpu(), ref = scalar_cpu();
  ops::global_l2_norm(dev, out);
  ops::global_l2_norm(host, ref);
  EXPECT_LT(rel_err(out, ref), kTolF32);
  Tensor again = scalar_gpu();
  ops::global_l2_norm(dev, again);
  EXPECT_EQ(bytes_of(again), bytes_of(out)) << "deterministic";
  Tensor empty_out = scalar_gpu();
  ops::global_l2_norm(std::span<const Tensor>(), empty_out);
  EXPECT_EQ(empty_out.item(), 0.f);
  // A view that starts off the 16-byte grid is read with single loads in the same order as
  // the aligned copy with packed ones: the same bits.
  for (DType dt : kDtypes) {
    Pair p = random_pair({3, 4099}, dt);
    const Tensor view = p.dev.view({-1}).slice(1, 3 * 4099), copy = view.clone();
    ASSERT_NE(reinterpret_cast<std::uintptr_t>(view.data()) % 16, 0u);
    Tensor a = scalar_gpu(), b = scalar_gpu();
    ops::global_l2_norm(std::span<const Tensor>(&view, 1), a);
    ops::global_l2_norm(std::span<const Tensor>(&copy, 1), b);
    EXPECT_EQ(bytes_of(a), bytes_of(b)) << dt_str(dt);
    Tensor s = scalar_gpu();
    ops::sum(view, s);
    Tensor s2 = scalar_gpu();
    ops::sum(copy, s2);
    EXPECT_EQ(bytes_of(s), bytes_of(s2)) << "sum " << dt_str(dt);
  }
}

// CUDA init must give the CPU's bits: f32 directly, bf16 as float_to_bf16 of the CPU's f32.
void check_init(bool normal, DType dt, std::int64_t n, std::uint64_t seed, std::uint64_t off) {
  Tensor t = poisoned({n}, dt), ref = Tensor::empty({n}, DType::f32);
  if (normal) {
    ops::init_normal(t, 0.25f, 0.02f, seed, off);
    ops::init_normal(ref, 0.25f, 0.02f, seed, off);
  } else {
    ops::init_uniform(t, -0.3f, 0.7f, seed, off);
    ops::init_uniform(ref, -0.3f, 0.7f, seed, off);
  }
  Tensor want = dt == DType::f32 ? ref : Tensor::from_floats(ref.to_floats(), {n}, DType::bf16);
  EXPECT_EQ(bytes_of(t), bytes_of(want)) << (normal ? "normal " : "uniform ") << dt_str(dt) << " n "
                                         << n << " seed " << seed << " offset " << off;
}

TEST(OpsCuda, InitBitIdentical) {
  VPMOE_REQUIRE_CUDA();
  for (bool normal : {true, false})
    for (DType dt : kDtypes)
      for (std::int64_t n : {std::int64_t(1), std::int64_t(1001), std::int64_t(1) << 20})
        for (std::uint64_t seed : {std::uint64_t(0), std::uint64_t(0x123456789abcdefull)})
          for (std::uint64_t off : {std::uint64_t(0), std::uint64_t(1) << 33})
            check_init(normal, dt, n, seed, off);
}

}  // namespace
}  // namespace vpmoe::testing
