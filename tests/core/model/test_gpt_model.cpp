// The composition of GptModel and TransformerLayer (pre-norm residual layers, embedding, final
// RMSNorm, untied head, loss-masked mean cross-entropy), checked with small test-local
// attention and FFN modules whose math a double-precision reference repeats: the loss against
// the reference, every gradient against its finite differences.
#include <cmath>

#include "core/ops_cpu/cpu_test_util.h"
#include "model/gpt_model.h"

namespace vpmoe::testing {
namespace {

constexpr std::int64_t V = 11, H = 6, B = 1, T = 5, N = B * T, L = 2;

// y = tanh(x W^T).
struct TanhMix final : Attention {
  Parameter w;
  Tensor x_, y_;
  explicit TanhMix(int layer) {
    w = Parameter::make("layers." + std::to_string(layer) + ".mix", {H, H}, ParamRole::matrix,
                        Device::cpu());
    ops::init_normal(w.value, 0.f, 0.5f, 10 + layer);
  }
  std::string spec_name() const override { return "attention.test_tanh"; }
  std::vector<Parameter*> parameters() override { return {&w}; }
  double flops_per_token(std::int64_t) const override { return 2.0 * H * H; }
  Tensor forward(const Context&, const Tensor& x, ValueResidualState*) override {
    x_ = x;
    y_ = Tensor::empty({N, H}, DType::f32);
    ops::gemm(x, w.value, y_, false, true);
    for (std::int64_t i = 0; i < y_.numel(); ++i)
      y_.data_as<float>()[i] = std::tanh(y_.data_as<float>()[i]);
    return y_.clone();
  }
  Tensor backward(const Context&, const Tensor& dy, ValueResidualState*) override {
    Tensor dz = dy.clone();
    for (std::int64_t i = 0; i < dz.numel(); ++i) {
      const float y = y_.data_as<float>()[i];
      dz.data_as<float>()[i] *= 1.f - y * y;
    }
    ops::gemm(dz, x_, w.grad, true, false, 1.f, 1.f);
    Tensor dx = Tensor::empty({N, H}, DType::f32);
    ops::gemm(dz, w.value, dx);
    return dx;
  }
};

// y = x U^T.
struct LinearFfn final : FeedForward {
  Parameter u;
  Tensor x_;
  explicit LinearFfn(int layer) {
    u = Parameter::make("layers." + std::to_string(layer) + ".ffn", {H, H}, ParamRole::matrix,
                        Device::cpu());
    ops::init_normal(u.value, 0.f, 0.5f, 20 + layer);
  }
  std::string spec_name() const override { return "ffn.test_linear"; }
  std::vector<Parameter*> parameters() override { return {&u}; }
  double flops_per_token(std::int64_t) const override { return 2.0 * H * H; }
  Tensor forward(const Context&, const Tensor& x) override {
    x_ = x;
    Tensor y = Tensor::empty({N, H}, DType::f32);
    ops::gemm(x, u.value, y, false, true);
    return y;
  }
  Tensor backward(const Context&, const Tensor& dy) override {
    ops::gemm(dy, x_, u.grad, true, false, 1.f, 1.f);
    Tensor dx = Tensor::empty({N, H}, DType::f32);
    ops::gemm(dy, u.value, dx);
    return dx;
  }
};

std::unique_ptr<model::GptModel> make_model() {
  std::vector<std::unique_ptr<model::TransformerLayer>> layers;
  for (int l = 1; l <= L; ++l)
    layers.push_back(std::make_unique<model::TransformerLayer>(
        std::make_unique<TanhMix>(l), std::make_unique<LinearFfn>(l), H, 1e-5,
        "layers." + std::to_string(l), Device::cpu()));
  model::GptOptions o;
  o.vocab = V, o.hidden = H, o.eps = 1e-5, o.init_std = 0.5, o.seed = 3, o.device = Device::cpu();
  return std::make_unique<model::GptModel>(o, std::move(layers));
}

// The model in double from a flat parameter vector in parameters() order.
struct Reference {
  std::vector<int> ids, targets;
  std::vector<double> mask;
  static Vec rms(const Vec& x, const double* w) {
    Vec y(x.size());
    for (std::int64_t t = 0; t < N; ++t) {
      double ss = 0;
      for (std::int64_t c = 0; c < H; ++c) ss += x[t * H + c] * x[t * H + c];
      const double r = 1 / std::sqrt(ss / H + 1e-5);
      for (std::int64_t c = 0; c < H; ++c) y[t * H + c] = x[t * H + c] * r * w[c];
    }
    return y;
  }
  static Vec mat(const Vec& x, const double* w) {  // x W^T, W [H, H]
    Vec y(x.size(), 0.0);
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t o = 0; o < H; ++o)
        for (std::int64_t c = 0; c < H; ++c) y[t * H + o] += x[t * H + c] * w[o * H + c];
    return y;
  }
  double loss(const Vec& p) const {
    const double* q = p.data();
    const double* emb = q;
    q += V * H;
    Vec x(std::size_t(N * H));
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t c = 0; c < H; ++c) x[t * H + c] = emb[ids[std::size_t(t)] * H + c];
    for (std::int64_t l = 0; l < L; ++l) {
      const double *w1 = q, *W = q + H, *w2 = q + H + H * H, *U = q + 2 * H + H * H;
      q += 2 * H + 2 * H * H;
      Vec a = mat(rms(x, w1), W);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += std::tanh(a[i]);
      const Vec f = mat(rms(x, w2), U);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += f[i];
    }
    const Vec h = rms(x, q);
    const double* out = q + H;
    double total = 0, msum = 0;
    for (std::int64_t t = 0; t < N; ++t) {
      std::vector<double> z(static_cast<std::size_t>(V), 0.0);
      double mx = -1e300;
      for (std::int64_t v = 0; v < V; ++v) {
        for (std::int64_t c = 0; c < H; ++c) z[std::size_t(v)] += h[t * H + c] * out[v * H + c];
        mx = std::max(mx, z[std::size_t(v)]);
      }
      double se = 0;
      for (double zv : z) se += std::exp(zv - mx);
      total += mask[std::size_t(t)] * (mx + std::log(se) - z[std::size_t(targets[std::size_t(t)])]);
      msum += mask[std::size_t(t)];
    }
    return total / msum;
  }
};

TEST(GptModel, LossAndEveryGradientMatchTheDoubleReference) {
  auto m = make_model();
  const std::vector<Parameter*> ps = m->parameters();
  ASSERT_EQ(ps.front()->name, "embedding.word_embeddings");
  ASSERT_EQ(ps.back()->name, "output_layer");
  ASSERT_EQ(ps.size(), std::size_t(3 + 4 * L));
  Reference ref{{3, 0, 7, 7, 10}, {1, 2, 9, 4, 0}, {1, 1, 0, 1, 1}};
  std::vector<float> idf(ref.ids.begin(), ref.ids.end()),
      tf(ref.targets.begin(), ref.targets.end()), mf(ref.mask.begin(), ref.mask.end());
  const Tensor ids = Tensor::from_floats(idf, {N}, DType::i32),
               targets = Tensor::from_floats(tf, {N}, DType::i32),
               mask = Tensor::from_floats(mf, {N}, DType::f32);
  Vec flat;
  for (Parameter* p : ps) {
    const Vec v = to_double(p->value);
    flat.insert(flat.end(), v.begin(), v.end());
  }
  const Context ctx{Device::cpu(), B, T, true};
  const ops::CrossEntropyStats st = m->run(ctx, ids, targets, mask, 1.f, true);
  EXPECT_NEAR(st.mean(), ref.loss(flat), 1e-5);
  EXPECT_EQ(st.mask_sum, 4.0);
  const Vec fd = fd_grad([&](const Vec& v) { return ref.loss(v); }, flat, 1e-6);
  std::size_t off = 0;
  for (Parameter* p : ps) {
    const std::size_t n = std::size_t(p->value.numel());
    expect_close(p->grad, Vec(fd.begin() + off, fd.begin() + off + n), 1e-4, p->name);
    off += n;
  }
  // Forward only: the same loss, no gradient added.
  for (Parameter* p : ps) p->grad.zero_();
  EXPECT_NEAR(m->run(ctx, ids, targets, mask, 1.f, false).mean(), st.mean(), 1e-6);
  for (float g : ps.back()->grad.to_floats()) EXPECT_EQ(g, 0.f);
}

TEST(GptModel, FlopsAddTheHeadToTheLayers) {
  auto m = make_model();
  EXPECT_DOUBLE_EQ(m->flops_per_token(T), 2.0 * V * H + L * (4.0 * H * H));
  EXPECT_EQ(m->aux_loss(), 0.0);
}

}  // namespace
}  // namespace vpmoe::testing
