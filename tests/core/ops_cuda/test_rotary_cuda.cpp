// Rotary rotation and its frequency gradient on CUDA against the CPU op, f32 and bf16, with
// long sequences (angles of thousands of radians) and shared or per-head frequencies.
#include "cuda_test_util.h"

namespace vpmoe::testing {
namespace {

TEST(OpsCuda, Rotary) {
  VPMOE_REQUIRE_CUDA();
  struct Case {
    std::int64_t B, T, H, D;
    bool per_head;
  };
  const Case cases[] = {
      {1, 7, 1, 2, false}, {2, 2048, 8, 128, false}, {1, 4096, 2, 64, true}, {3, 33, 5, 16, true}};
  for (DType dt : {DType::f32, DType::bf16})
    for (const Case& c : cases) {
      const std::string what = std::string(dt_str(dt)) + " T=" + std::to_string(c.T) +
                               " H=" + std::to_string(c.H) + (c.per_head ? " per-head" : "");
      const Shape xs = {c.B, c.T, c.H, c.D};
      const Shape ws = c.per_head ? Shape{c.H, c.D / 2} : Shape{c.D / 2};
      Pair x = random_pair(xs, dt);
      Pair omega = random_pair(ws, DType::f32, 0.f, 1.f);
      ops::rotary(x.dev, omega.dev);
      ops::rotary(x.cpu, omega.cpu);
      EXPECT_LT(rel_err(x.dev, x.cpu), tol(dt)) << "forward " << what;

      Pair dy = random_pair(xs, dt);
      Pair dw = random_pair(ws, DType::f32);  // accumulated into
      // The same y on both sides (the CUDA one, in dtype), so only the reduction differs.
      Tensor y_cpu = x.dev.to(cpu());
      if (dt == DType::bf16) {
        Tensor f = Tensor::empty(xs, DType::f32);
        ops::cast(y_cpu, f);
        y_cpu = f;
      }
      ops::rotary_omega_grad(x.dev, dy.dev, dw.dev);
      ops::rotary_omega_grad(y_cpu, dy.cpu, dw.cpu);
      EXPECT_LT(rel_err(dw.dev, dw.cpu), 1e-4) << "omega grad " << what;

      ops::rotary(dy.dev, omega.dev, true);
      ops::rotary(dy.cpu, omega.cpu, true);
      EXPECT_LT(rel_err(dy.dev, dy.cpu), tol(dt)) << "inverse " << what;
    }
}

}  // namespace
}  // namespace vpmoe::testing
