// Fused QKV layout and value residual on CUDA against the CPU ops, f32 and bf16.
#include "cuda_test_util.h"

namespace vpmoe::testing {
namespace {

TEST(OpsCuda, QkvSplitMerge) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::int64_t rows = 37, nh = 8, ng = 2, d = 128;
    Pair qkv = random_pair({rows, (nh + 2 * ng) * d}, dt);
    Tensor q = poisoned({rows, nh, d}, dt), k = poisoned({rows, ng, d}, dt),
           v = poisoned({rows, ng, d}, dt);
    Tensor qc = Tensor::empty({rows, nh, d}, DType::f32),
           kc = Tensor::empty({rows, ng, d}, DType::f32),
           vc = Tensor::empty({rows, ng, d}, DType::f32);
    ops::qkv_split(qkv.dev, q, k, v);
    ops::qkv_split(qkv.cpu, qc, kc, vc);
    EXPECT_EQ(rel_err(q, qc), 0.0) << dt_str(dt);
    EXPECT_EQ(rel_err(k, kc), 0.0) << dt_str(dt);
    EXPECT_EQ(rel_err(v, vc), 0.0) << dt_str(dt);
    Tensor back = poisoned(qkv.dev.shape(), dt);
    ops::qkv_merge(q, k, v, back);
    EXPECT_EQ(bytes_of(back), bytes_of(qkv.dev)) << dt_str(dt);
  }
}

TEST(OpsCuda, ValueResidual) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::bf16})
    for (float theta0 : {0.4f, 9.21f}) {
      const Shape s = {2, 300, 2, 128};
      Pair v = random_pair(s, dt), v1 = random_pair(s, dt), dv = random_pair(s, dt);
      Pair theta = pair_from({theta0}, {1}, DType::f32);
      Tensor out = poisoned(s, dt), out_c = Tensor::empty(s, DType::f32);
      ops::value_residual_forward(v.dev, v1.dev, theta.dev, out);
      ops::value_residual_forward(v.cpu, v1.cpu, theta.cpu, out_c);
      const double tol = dt == DType::bf16 ? 1e-2 : 1e-6;
      EXPECT_LT(rel_err(out, out_c), tol) << dt_str(dt);

      Tensor raw = poisoned(s, dt), raw_c = Tensor::empty(s, DType::f32);
      Pair dv1 = random_pair(s, DType::f32), dth = pair_from({0.25f}, {1}, DType::f32);
      ops::value_residual_backward(dv.dev, v.dev, v1.dev, theta.dev, raw, dv1.dev, dth.dev);
      ops::value_residual_backward(dv.cpu, v.cpu, v1.cpu, theta.cpu, raw_c, dv1.cpu, dth.cpu);
      EXPECT_LT(rel_err(raw, raw_c), tol) << dt_str(dt);
      EXPECT_LT(rel_err(dv1.dev, dv1.cpu), 1e-6) << dt_str(dt);
      EXPECT_LT(rel_err(dth.dev, dth.cpu), 1e-4) << dt_str(dt) << " theta " << theta0;
    }
}

}  // namespace
}  // namespace vpmoe::testing
