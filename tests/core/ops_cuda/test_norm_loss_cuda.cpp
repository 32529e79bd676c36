// RMSNorm, embedding and cross-entropy on CUDA against the CPU ops.
#include <string>
#include <vector>

#include "core/ops_cuda/cuda_test_util.h"

namespace vpmoe::testing {
namespace {

const DType kDtypes[] = {DType::f32, DType::bf16};

struct RowsCols {
  std::int64_t rows, cols;
};

TEST(OpsCuda, RmsNorm) {
  VPMOE_REQUIRE_CUDA();
  const RowsCols sizes[] = {{1, 8}, {5, 13}, {64, 1024}, {37, 4096}, {300, 200}};
  const float eps = 1e-5f;
  for (DType dt : kDtypes)
    for (RowsCols s : sizes) {
      std::string what =
          std::string(dt_str(dt)) + " " + std::to_string(s.rows) + "x" + std::to_string(s.cols);
      Pair x = random_pair({s.rows, s.cols}, dt, -2.f, 2.f);
      Pair w = random_pair({s.cols}, DType::f32, 0.5f, 1.5f);
      Tensor y = poisoned({s.rows, s.cols}, dt), rstd = poisoned({s.rows}, DType::f32);
      Tensor yr = Tensor::empty({s.rows, s.cols}, DType::f32),
             rr = Tensor::empty({s.rows}, DType::f32);
      ops::rmsnorm_forward(x.dev, w.dev, eps, y, rstd);
      ops::rmsnorm_forward(x.cpu, w.cpu, eps, yr, rr);
      EXPECT_LT(rel_err(y, yr), tol(dt)) << "forward y " << what;
      EXPECT_LT(rel_err(rstd, rr), kTolF32) << "forward rstd " << what;

      Pair dy = random_pair({s.rows, s.cols}, dt);
      Pair dw = random_pair({s.cols}, DType::f32);  // accumulated into
      Tensor dx = poisoned({s.rows, s.cols}, dt), dxr = Tensor::empty({s.rows, s.cols}, DType::f32);
      ops::rmsnorm_backward(dy.dev, x.dev, w.dev, rstd, dx, dw.dev);
      ops::rmsnorm_backward(dy.cpu, x.cpu, w.cpu, rr, dxr, dw.cpu);
      EXPECT_LT(rel_err(dx, dxr), tol(dt)) << "backward dx " << what;
      EXPECT_LT(rel_err(dw.dev, dw.cpu), dt == DType::bf16 ? 1e-4 : kTolF32)
          << "backward dw " << what;
    }
}

std::vector<float> random_ids(std::int64_t n, std::int64_t hi) {
  std::uniform_int_distribution<int> d(0, int(hi - 1));
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = float(d(rng()));
  return v;
}

TEST(OpsCuda, Embedding) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t V = 1000;
  struct Case {
    std::int64_t n, c, id_range;
  };
  // Small id ranges repeat ids many times (the backward's hard case).
  const Case cases[] = {{1, 1, 1000}, {100, 33, 1000}, {5000, 256, 7}, {3001, 64, 1000}};
  for (DType dt : kDtypes)
    for (Case cs : cases) {
      std::string what = std::string(dt_str(dt)) + " n " + std::to_string(cs.n) + " c " +
                         std::to_string(cs.c) + " ids < " + std::to_string(cs.id_range);
      Pair ids = pair_from(random_ids(cs.n, cs.id_range), {cs.n}, DType::i32);
      ids.cpu = Tensor::from_floats(ids.dev.to_floats(), {cs.n}, DType::i32, cpu());
      Pair table = random_pair({V, cs.c}, dt);
      for (DType ot : {dt, DType::f32}) {
        Tensor out = poisoned({cs.n, cs.c}, ot), ref = Tensor::empty({cs.n, cs.c}, DType::f32);
        ops::embedding_forward(ids.dev, table.dev, out);
        ops::embedding_forward(ids.cpu, table.cpu, ref);
        EXPECT_EQ(rel_err(out, ref), 0.0) << "forward " << what << " out " << dt_str(ot);
      }
      Pair dout = random_pair({cs.n, cs.c}, dt);
      Pair dtable = random_pair({V, cs.c}, DType::f32);
      Tensor start = dtable.dev.clone();
      ops::embedding_backward(ids.dev, dout.dev, dtable.dev);
      ops::embedding_backward(ids.cpu, dout.cpu, dtable.cpu);
      EXPECT_LT(rel_err(dtable.dev, dtable.cpu), kTolF32) << "backward " << what;
      // Deterministic: the same inputs give the same bits.
      ops::embedding_backward(ids.dev, dout.dev, start);
      EXPECT_EQ(bytes_of(start), bytes_of(dtable.dev)) << "backward repeat " << what;
    }
}

TEST(OpsCuda, CrossEntropy) {
  VPMOE_REQUIRE_CUDA();
  struct Case {
    std::int64_t n, v;
  };
  const Case cases[] = {{1, 5}, {3, 1003}, {7, 4096}, {16, 201088}};
  for (DType dt : kDtypes)
    for (Case cs : cases) {
      std::string what =
          std::string(dt_str(dt)) + " n " + std::to_string(cs.n) + " V " + std::to_string(cs.v);
      Pair logits = random_pair({cs.n, cs.v}, dt, -8.f, 8.f);
      Pair targets = pair_from(random_ids(cs.n, cs.v), {cs.n}, DType::i32);
      targets.cpu = Tensor::from_floats(targets.dev.to_floats(), {cs.n}, DType::i32, cpu());
      Tensor loss = poisoned({cs.n}, DType::f32), lse = poisoned({cs.n}, DType::f32);
      Tensor lr = Tensor::empty({cs.n}, DType::f32), lser = Tensor::empty({cs.n}, DType::f32);
      ops::cross_entropy_forward(logits.dev, targets.dev, loss, lse);
      ops::cross_entropy_forward(logits.cpu, targets.cpu, lr, lser);
      EXPECT_LT(rel_err(loss, lr), kTolF32 * 10) << "loss " << what;
      EXPECT_LT(rel_err(lse, lser), kTolF32) << "lse " << what;

      std::vector<float> sc = random_values(cs.n, DType::f32, 0.f, 2.f);
      sc[0] = 0.f;  // a masked row writes zeros
      Pair scale = pair_from(sc, {cs.n}, DType::f32);
      Tensor grad_ref = Tensor::empty({cs.n, cs.v}, DType::f32);
      ops::cross_entropy_backward(logits.cpu, targets.cpu, lser, scale.cpu, grad_ref);
      for (DType gt : {dt, DType::f32}) {
        Tensor grad = poisoned({cs.n, cs.v}, gt);
        ops::cross_entropy_backward(logits.dev, targets.dev, lse, scale.dev, grad);
        EXPECT_LT(rel_err(grad, grad_ref), tol(gt)) << "dlogits " << what << " " << dt_str(gt);
      }
      // In place: dlogits aliases logits.
      Tensor inplace = logits.dev.clone();
      ops::cross_entropy_backward(inplace, targets.dev, lse, scale.dev, inplace);
      EXPECT_LT(rel_err(inplace, grad_ref), tol(dt)) << "in place " << what;
    }
}

// The composite LM head + loss, chunked over rows, against the CPU composite.
TEST(OpsCuda, LinearCrossEntropy) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t n = 37, h = 64, v = 5003;
  for (DType dt : kDtypes)
    for (std::int64_t chunk : {std::int64_t{8}, std::int64_t{64}}) {
      std::string what = std::string(dt_str(dt)) + " chunk " + std::to_string(chunk);
      Pair x = random_pair({n, h}, dt), w = random_pair({v, h}, dt, -0.5f, 0.5f);
      Pair targets = pair_from(random_ids(n, v), {n}, DType::i32);
      targets.cpu = Tensor::from_floats(targets.dev.to_floats(), {n}, DType::i32, cpu());
      std::vector<float> m = random_values(n, DType::f32, 0.f, 1.f);
      m[0] = 0.f;
      Pair mask = pair_from(m, {n}, DType::f32);
      Tensor dh = poisoned({n, h}, dt), dw = Tensor::zeros({v, h}, DType::f32, gpu());
      Tensor dh_ref = Tensor::empty({n, h}, DType::f32), dw_ref = Tensor::zeros({v, h}, DType::f32);
      auto got =
          ops::linear_cross_entropy(x.dev, w.dev, targets.dev, mask.dev, 1.5f, &dh, &dw, chunk);
      auto ref = ops::linear_cross_entropy(x.cpu, w.cpu, targets.cpu, mask.cpu, 1.5f, &dh_ref,
                                           &dw_ref, chunk);
      EXPECT_NEAR(got.mean(), ref.mean(), tol(dt) * std::abs(ref.mean())) << what;
      EXPECT_NEAR(got.mask_sum, ref.mask_sum, 1e-5 * ref.mask_sum) << what;
      EXPECT_LT(rel_err(dh, dh_ref), tol(dt) * 2) << "dh " << what;
      EXPECT_LT(rel_err(dw, dw_ref), tol(dt) * 2) << "dw " << what;
    }
}

}  // namespace
}  // namespace vpmoe::testing
