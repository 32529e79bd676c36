// The freed-block cache (device/cuda/block_cache.h): a block freed on the thread's stream serves
// the next request of its size class with its contents ordered after the free; another class,
// another thread or a cache turned off goes to the pool; a request the pool cannot meet hands
// the cached blocks back first.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "device/cuda/block_cache.h"
#include "vpmoe/device.h"
#include "vpmoe/ops.h"
#include "vpmoe/tensor.h"

namespace vpmoe::testing {
namespace {

namespace bc = cuda_impl::block_cache;

#define VPMOE_REQUIRE_CUDA() \
  if (!::vpmoe::cuda_available()) GTEST_SKIP() << "no CUDA device"

struct CacheOn {
  CacheOn() { bc::set_enabled(true); }
  ~CacheOn() { bc::set_enabled(true); }
};

TEST(BlockCache, SizeClassesRoundUpAndNeverShrink) {
  EXPECT_EQ(bc::size_class(0), 512u);
  EXPECT_EQ(bc::size_class(1), 512u);
  EXPECT_EQ(bc::size_class(512), 512u);
  EXPECT_EQ(bc::size_class(513), 1024u);
  const std::size_t mib = std::size_t(1) << 20;
  EXPECT_EQ(bc::size_class(16 * mib), 16 * mib);
  EXPECT_EQ(bc::size_class(16 * mib + 1), 18 * mib);
  for (std::size_t b : {std::size_t(777), 3 * mib + 5, 100 * mib + 1, 40'000 * mib + 3}) {
    EXPECT_GE(bc::size_class(b), b);
    EXPECT_LT(bc::size_class(b) - b, b < 16 * mib ? 512u : 2 * mib);
  }
}

TEST(BlockCache, AFreedBlockServesTheNextRequestOfItsClass) {
  VPMOE_REQUIRE_CUDA();
  CacheOn on;
  const Device d = Device::cuda(0);
  void* a = device_alloc(d, 100'000);
  device_free(d, a);
  const auto before = bc::stats();
  void* b = device_alloc(d, 99'900);  // the same 512-byte class
  EXPECT_EQ(b, a);
  EXPECT_EQ(bc::stats().hits, before.hits + 1);
  void* c = device_alloc(d, 200'000);  // another class: not the cached block
  EXPECT_NE(c, a);
  device_free(d, b);
  device_free(d, c);
  synchronize(d);
}

TEST(BlockCache, AReusedBlockSeesOnlyWritesOrderedBeforeIt) {
  VPMOE_REQUIRE_CUDA();
  CacheOn on;
  const Device d = Device::cuda(0);
  const std::int64_t n = 1 << 20;
  std::vector<float> ones(n, 1.f), twos(n, 2.f);
  void* first = nullptr;
  {
    Tensor t = Tensor::from_floats(ones, {n}, DType::f32).to(d);
    first = t.data();
  }  // freed, queued work and all
  Tensor u = Tensor::from_floats(twos, {n}, DType::f32).to(d);
  EXPECT_EQ(u.data(), first) << "the cached block was not reused";
  std::vector<float> back = u.to(Device::cpu()).to_floats();
  for (std::int64_t i = 0; i < n; i += 4099) ASSERT_EQ(back[std::size_t(i)], 2.f) << i;
}

TEST(BlockCache, OffOrAnotherThreadGoesToThePool) {
  VPMOE_REQUIRE_CUDA();
  CacheOn on;
  const Device d = Device::cuda(0);
  std::thread other([d] {
    void* p = device_alloc(d, 300'000);
    device_free(d, p);
    synchronize(d);
  });
  other.join();  // its cache went back to the pool as the thread ended
  auto before = bc::stats();
  void* q = device_alloc(d, 300'000);
  EXPECT_EQ(bc::stats().hits, before.hits) << "a block cached by another thread's stream";
  bc::set_enabled(false);
  device_free(d, q);
  EXPECT_EQ(bc::stats().cached_bytes, before.cached_bytes);
  before = bc::stats();
  void* r = device_alloc(d, 300'000);
  EXPECT_EQ(bc::stats().hits, before.hits);
  device_free(d, r);
  synchronize(d);
}

TEST(BlockCache, ARequestThePoolCannotMeetReleasesTheCacheFirst) {
  VPMOE_REQUIRE_CUDA();
  CacheOn on;
  const Device d = Device::cuda(0);
  synchronize(d);
  std::size_t free_b = 0, total_b = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  // Most of the free memory in one block, cached; then a block of another class as large:
  // the pool can serve it only with the cached block's memory.
  const std::size_t big = free_b / 10 * 7;
  void* a = device_alloc(d, big);
  device_free(d, a);
  const auto before = bc::stats();
  ASSERT_GE(before.cached_bytes, big);
  void* b = device_alloc(d, big + (std::size_t(8) << 20));
  EXPECT_EQ(bc::stats().flushes, before.flushes + 1);
  EXPECT_GE(bc::stats().released_bytes, before.released_bytes + big);
  EXPECT_LT(bc::stats().cached_bytes, big);
  device_free(d, b);
  bc::release(0);
  synchronize(d);
}

}  // namespace
}  // namespace vpmoe::testing
