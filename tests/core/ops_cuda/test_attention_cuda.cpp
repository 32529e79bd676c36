// The fused attention kernels against the CPU reference on fresh random inputs: causal and
// sliding-window, GQA ratios, ALiBi slopes and softmax offsets, sequences that are not a
// multiple of the tile, every head dim with a kernel, f32 and bf16 tensors. The kernels
// multiply in bf16 with fp32 accumulation, so both dtypes are held to bf16 tolerances.
#include "cuda_test_util.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

struct Case {
  std::int64_t B, T, nh, ng, d, window;
  bool slopes, sink;
};

std::string describe(const Case& c, DType dt) {
  return std::string(dt_str(dt)) + " B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) +
         " nh=" + std::to_string(c.nh) + " ng=" + std::to_string(c.ng) +
         " d=" + std::to_string(c.d) + " W=" + std::to_string(c.window) +
         (c.slopes ? " alibi" : "") + (c.sink ? " sink" : "");
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_floats(), y = b.to_floats();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return INFINITY;
    m = std::max(m, std::abs(double(x[i]) - double(y[i])));
  }
  return m;
}

void check_case(const Case& c, DType dt) {
  const std::string what = describe(c, dt);
  const Shape qs = {c.B, c.T, c.nh, c.d}, ks = {c.B, c.T, c.ng, c.d};
  // Wide enough values that the softmax is far from uniform.
  Pair q = random_pair(qs, dt, -2.f, 2.f), k = random_pair(ks, dt, -2.f, 2.f),
       v = random_pair(ks, dt);
  Pair slopes = random_pair({c.nh}, DType::f32, 0.f, 0.1f);
  Pair sink = random_pair({c.nh}, DType::f32, -1.f, 2.f);
  ops::AttentionArgs ad, ac;
  ad.window = ac.window = c.window;
  ad.scale = ac.scale = float(1.0 / std::sqrt(double(c.d)));
  if (c.slopes) ad.slopes = slopes.dev, ac.slopes = slopes.cpu;
  if (c.sink) ad.sink = sink.dev, ac.sink = sink.cpu;

  Tensor out_d = poisoned(qs, dt), lse_d = poisoned({c.B, c.nh, c.T}, DType::f32);
  Tensor out_c = Tensor::empty(qs, DType::f32), lse_c = Tensor::empty({c.B, c.nh, c.T}, DType::f32);
  ops::attention_forward(q.dev, k.dev, v.dev, ad, out_d, lse_d);
  ops::attention_forward(q.cpu, k.cpu, v.cpu, ac, out_c, lse_c);
  EXPECT_LT(rel_err(out_d, out_c), 1e-2) << "out " << what;
  EXPECT_LT(max_abs_diff(lse_d, lse_c), 2e-2) << "lse " << what;

  Pair dout = random_pair(qs, dt);
  Tensor dq_d = poisoned(qs, dt), dk_d = poisoned(ks, dt), dv_d = poisoned(ks, dt);
  Tensor dq_c = Tensor::empty(qs, DType::f32), dk_c = Tensor::empty(ks, DType::f32),
         dv_c = Tensor::empty(ks, DType::f32);
  Pair dsink = random_pair({c.nh}, DType::f32);  // accumulated into
  Tensor dsink_d = c.sink ? dsink.dev : Tensor(), dsink_c = c.sink ? dsink.cpu : Tensor();
  ops::attention_backward(dout.dev, q.dev, k.dev, v.dev, out_d, lse_d, ad, dq_d, dk_d, dv_d,
                          dsink_d);
  ops::attention_backward(dout.cpu, q.cpu, k.cpu, v.cpu, out_c, lse_c, ac, dq_c, dk_c, dv_c,
                          dsink_c);
  EXPECT_LT(rel_err(dq_d, dq_c), 2e-2) << "dq " << what;
  EXPECT_LT(rel_err(dk_d, dk_c), 2e-2) << "dk " << what;
  EXPECT_LT(rel_err(dv_d, dv_c), 2e-2) << "dv " << what;
  if (c.sink) EXPECT_LT(rel_err(dsink_d, dsink_c), 2e-2) << "dsink " << what;

  // Deterministic: a second backward gives the same bits.
  Tensor dq2 = poisoned(qs, dt), dk2 = poisoned(ks, dt), dv2 = poisoned(ks, dt);
  Tensor none;
  ops::attention_backward(dout.dev, q.dev, k.dev, v.dev, out_d, lse_d, ad, dq2, dk2, dv2, none);
  EXPECT_EQ(bytes_of(dq2), bytes_of(dq_d)) << "dq repeat " << what;
  EXPECT_EQ(bytes_of(dk2), bytes_of(dk_d)) << "dk repeat " << what;
  EXPECT_EQ(bytes_of(dv2), bytes_of(dv_d)) << "dv repeat " << what;
}

TEST(OpsCuda, AttentionMatchesCpu) {
  VPMOE_REQUIRE_CUDA();
  const Case cases[] = {{1, 1, 1, 1, 16, 0, false, false},   {2, 37, 4, 2, 32, 0, false, true},
                        {1, 200, 8, 2, 128, 0, true, true},  {2, 300, 8, 2, 128, 128, false, true},
                        {1, 130, 4, 4, 64, 5, true, false},  {1, 513, 8, 1, 64, 64, false, false},
                        {1, 1024, 8, 2, 128, 0, true, true}, {1, 2048, 8, 2, 128, 128, false, true},
                        {3, 65, 6, 3, 16, 1, true, true},    {1, 100, 2, 2, 32, 100, false, false}};
  for (DType dt : {DType::bf16, DType::f32})
    for (const Case& c : cases) check_case(c, dt);
}

// A window as long as the sequence is the causal result, bit for bit.
TEST(OpsCuda, AttentionFullWindowIsCausal) {
  VPMOE_REQUIRE_CUDA();
  const Shape qs = {1, 150, 4, 64}, ks = {1, 150, 2, 64};
  Pair q = random_pair(qs, DType::bf16), k = random_pair(ks, DType::bf16),
       v = random_pair(ks, DType::bf16);
  ops::AttentionArgs a;
  a.scale = 0.125f;
  Tensor o1 = poisoned(qs, DType::bf16), o2 = poisoned(qs, DType::bf16);
  Tensor l1 = poisoned({1, 4, 150}, DType::f32), l2 = poisoned({1, 4, 150}, DType::f32);
  ops::attention_forward(q.dev, k.dev, v.dev, a, o1, l1);
  a.window = 150;
  ops::attention_forward(q.dev, k.dev, v.dev, a, o2, l2);
  EXPECT_EQ(bytes_of(o1), bytes_of(o2));
  EXPECT_EQ(bytes_of(l1), bytes_of(l2));
}

TEST(OpsCuda, AttentionRefusesOtherHeadDims) {
  VPMOE_REQUIRE_CUDA();
  Tensor q = Tensor::zeros({1, 4, 2, 48}, DType::bf16, gpu());
  Tensor o = Tensor::zeros({1, 4, 2, 48}, DType::bf16, gpu());
  Tensor l = Tensor::zeros({1, 2, 4}, DType::f32, gpu());
  try {
    ops::attention_forward(q, q, q, {}, o, l);
    FAIL() << "head_dim 48 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim 16, 32, 64, 128; got 48"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
