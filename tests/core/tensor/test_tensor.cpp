// Tensor views share storage; slices and selects offset into it; copies are deep; bad views
// and slices throw vpmoe::Error naming the tensor.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "vpmoe/error.h"
#include "vpmoe/tensor.h"

namespace vpmoe {
namespace {

std::vector<float> iota(std::int64_t n, float start = 0.f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + float(i);
  return v;
}

std::vector<float> random_floats(std::int64_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-10.f, 10.f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = u(g);
  return v;
}

TEST(Tensor, EmptyZerosAndMetadata) {
  Tensor t = Tensor::zeros({2, 3, 4}, DType::f32);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_THROW(t.size(3), Error);
  EXPECT_THROW(t.size(-4), Error);
  for (float x : t.to_floats()) EXPECT_EQ(x, 0.f);
  EXPECT_EQ(t.str(), "f32[2, 3, 4] on " + Device::cpu().str());
  EXPECT_FALSE(Tensor().defined());
  EXPECT_THROW(Tensor::empty({2, -1}, DType::f32), Error);
  EXPECT_EQ(Tensor::empty({3}, DType::bf16).nbytes(), 6u);
  EXPECT_EQ(Tensor::empty({3}, DType::i64).nbytes(), 24u);
}

TEST(Tensor, FromFloatsAndToFloatsRoundTripPerDtype) {
  std::vector<float> v = random_floats(12, 1);
  Tensor f = Tensor::from_floats(v, {3, 4}, DType::f32);
  EXPECT_EQ(f.to_floats(), v);
  Tensor b = Tensor::from_floats(v, {3, 4}, DType::bf16);
  std::vector<float> bv = b.to_floats();
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(bv[i], bf16_to_float(float_to_bf16(v[i])));
  std::vector<float> ints = {-3, 0, 7, 100000};
  EXPECT_EQ(Tensor::from_floats(ints, {4}, DType::i32).to_floats(), ints);
  EXPECT_EQ(Tensor::from_floats(ints, {4}, DType::i64).to_floats(), ints);
  std::vector<float> bytes = {0, 1, 200, 255};
  EXPECT_EQ(Tensor::from_floats(bytes, {2, 2}, DType::u8).to_floats(), bytes);
  EXPECT_THROW(Tensor::from_floats(v, {5}, DType::f32), Error);
  EXPECT_EQ(Tensor::from_floats({2.5f}, {1}, DType::f32).item(), 2.5f);
  EXPECT_THROW(f.item(), Error);
}

TEST(Tensor, ViewSharesStorageAndInfersOneDim) {
  Tensor t = Tensor::from_floats(iota(24), {2, 3, 4}, DType::f32);
  Tensor v = t.view({6, -1});
  EXPECT_EQ(v.shape(), (Shape{6, 4}));
  EXPECT_EQ(v.data(), t.data());
  v.data_as<float>()[5] = -1.f;
  EXPECT_EQ(t.to_floats()[5], -1.f);
  EXPECT_EQ(t.view({24}).shape(), (Shape{24}));
  EXPECT_EQ(t.view({-1}).shape(), (Shape{24}));
}

TEST(Tensor, BadViewsThrow) {
  Tensor t = Tensor::zeros({2, 3, 4}, DType::f32);
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.view({-1, -1}), Error);
  EXPECT_THROW(t.view({5, -1}), Error);
  EXPECT_THROW(t.view({0, -1}), Error);
  try {
    t.view({7, 3});
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[2, 3, 4]"), std::string::npos) << e.what();
  }
}

TEST(Tensor, SliceAndSelectOffsetIntoStorage) {
  Tensor t = Tensor::from_floats(iota(24), {4, 3, 2}, DType::f32);
  Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.to_floats(), iota(12, 6.f));
  EXPECT_EQ(s.data_as<float>(), t.data_as<float>() + 6);
  Tensor r = t.select(3);
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.to_floats(), iota(6, 18.f));
  Tensor e = t.slice(2, 2);
  EXPECT_EQ(e.numel(), 0);
  // A slice of a slice, and writes through a select.
  Tensor ss = s.slice(1, 2).select(0).select(2);
  EXPECT_EQ(ss.to_floats(), (std::vector<float>{16.f, 17.f}));
  r.data_as<float>()[0] = 99.f;
  EXPECT_EQ(t.to_floats()[18], 99.f);
  // bf16 slices advance by 2 bytes per element.
  Tensor b = Tensor::from_floats(iota(6), {3, 2}, DType::bf16);
  EXPECT_EQ(b.slice(2, 3).to_floats(), (std::vector<float>{4.f, 5.f}));
}

TEST(Tensor, BadSlicesThrow) {
  Tensor t = Tensor::zeros({4, 3}, DType::f32);
  EXPECT_THROW(t.slice(-1, 2), Error);
  EXPECT_THROW(t.slice(3, 2), Error);
  EXPECT_THROW(t.slice(0, 5), Error);
  EXPECT_THROW(t.select(4), Error);
  EXPECT_THROW(t.select(-1), Error);
  Tensor scalar = Tensor::zeros({}, DType::f32);
  EXPECT_THROW(scalar.slice(0, 1), Error);
}

TEST(Tensor, CopyFromCloneAndZero) {
  std::vector<float> v = random_floats(10, 2);
  Tensor a = Tensor::from_floats(v, {2, 5}, DType::f32);
  Tensor b = Tensor::zeros({2, 5}, DType::f32);
  b.copy_from(a);
  EXPECT_EQ(b.to_floats(), v);
  EXPECT_NE(b.data(), a.data());
  Tensor c = a.clone();
  c.zero_();
  EXPECT_EQ(a.to_floats(), v) << "clone is deep";
  for (float x : c.to_floats()) EXPECT_EQ(x, 0.f);
  // Into a slice of a bigger tensor.
  Tensor big = Tensor::zeros({4, 5}, DType::f32);
  Tensor mid = big.slice(1, 3);
  mid.copy_from(a);
  std::vector<float> bf = big.to_floats();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bf[i], 0.f);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bf[5 + i], v[i]);
  for (int i = 15; i < 20; ++i) EXPECT_EQ(bf[i], 0.f);
  EXPECT_THROW(b.copy_from(Tensor::zeros({5, 2}, DType::f32)), Error);
  EXPECT_THROW(b.copy_from(Tensor::zeros({2, 5}, DType::bf16)), Error);
}

TEST(Tensor, WrapBorrowsCallerMemory) {
  std::vector<float> mem = iota(6);
  {
    Tensor t = Tensor::wrap(mem.data(), {2, 3}, DType::f32);
    EXPECT_EQ(t.data(), mem.data());
    t.data_as<float>()[4] = -7.f;
  }
  EXPECT_EQ(mem[4], -7.f) << "wrap writes through and does not free";
}

TEST(Tensor, CheckHelpersThrowWithNames) {
  Tensor t = Tensor::zeros({2, 3}, DType::f32);
  EXPECT_NO_THROW(check_dtype(t, DType::f32, "x"));
  EXPECT_NO_THROW(check_shape(t, {2, 3}, "x"));
  EXPECT_NO_THROW(check_device(t, Device::cpu(), "x"));
  try {
    check_dtype(t, DType::bf16, "my_op: x");
    FAIL() << "no throw";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("my_op: x"), std::string::npos) << m;
    EXPECT_NE(m.find("bf16"), std::string::npos) << m;
  }
  EXPECT_THROW(check_shape(t, {3, 2}, "x"), Error);
  EXPECT_THROW(check_device(t, Device::cuda(0), "x"), Error);
  EXPECT_EQ(shape_str({1, 2, 3}), "[1, 2, 3]");
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({4, 0}), 0);
}

}  // namespace
}  // namespace vpmoe
