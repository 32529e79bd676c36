// The MoE layer: forward against a double-precision reference built from the parameters and
// the layer's own choices, every gradient (router, experts, shared expert, input; aux loss on)
// against finite differences; k = E with one group as the weighted sum of all experts;
// determinism; step counts, the expert-bias update and load statistics; the locked config's
// counts; CUDA against the CPU.
#include <map>

#include "core/moe/moe_layer_test_util.h"
#include "core/ops_cpu/cpu_test_util.h"
#include "deepseek_router.h"
#include "dense_ffn.h"
#include "grouped_mlp.h"
#include "moe/local_dispatcher.h"
#include "moe/moe_layer.h"
#include "plugins/moe/moe_test_util.h"
#include "vpmoe/config.h"

namespace vpmoe::testing {
namespace {

struct Dims {
  std::int64_t B, T, H = 8, E, k, F = 6, S = 5;
  double coeff = 0.2;
};

double sig(double z) {
  return 1 / (1 + std::exp(-z));
}

// out [N, H] for the given choices (all experts when ids is empty), and the aux loss.
Vec reference(const Dims& d, const Params& p, const Vec& x, const std::vector<float>& ids,
              double* aux) {
  const std::string pre = "layers.2.moe";
  const std::int64_t N = d.B * d.T;
  const Vec &Wr = p.at(pre + ".router.weight"), &br = p.at(pre + ".router.bias");
  Vec out(static_cast<std::size_t>(N * d.H), 0.0);
  std::vector<Vec> sigma;
  for (std::int64_t t = 0; t < N; ++t) {
    Vec s(static_cast<std::size_t>(d.E));
    for (std::int64_t e = 0; e < d.E; ++e) {
      double z = br[std::size_t(e)];
      for (std::int64_t c = 0; c < d.H; ++c)
        z += Wr[std::size_t(e * d.H + c)] * x[std::size_t(t * d.H + c)];
      s[std::size_t(e)] = sig(z);
    }
    sigma.push_back(s);
    std::vector<std::int64_t> chosen;
    if (ids.empty())
      for (std::int64_t e = 0; e < d.E; ++e) chosen.push_back(e);
    else
      for (std::int64_t i = 0; i < d.k; ++i)
        chosen.push_back(std::int64_t(ids[std::size_t(t * d.k + i)]));
    double S = 1e-20;
    for (std::int64_t e : chosen) S += s[std::size_t(e)];
    for (std::int64_t e : chosen) {
      const Vec y = ffn_reference(p, pre + ".experts", e, d.F, d.H, &x[std::size_t(t * d.H)]);
      for (std::int64_t c = 0; c < d.H; ++c)
        out[std::size_t(t * d.H + c)] += 2.5 * s[std::size_t(e)] / S * y[std::size_t(c)];
    }
    const Vec ys = ffn_reference(p, pre + ".shared_expert", -1, d.S, d.H, &x[std::size_t(t * d.H)]);
    for (std::int64_t c = 0; c < d.H; ++c) out[std::size_t(t * d.H + c)] += ys[std::size_t(c)];
  }
  double l = 0;
  for (std::int64_t b = 0; b < d.B; ++b) {
    Vec psum(static_cast<std::size_t>(d.E), 0.0), cnt(static_cast<std::size_t>(d.E), 0.0);
    for (std::int64_t t = b * d.T; t < (b + 1) * d.T; ++t) {
      double tot = 0;
      for (double v : sigma[std::size_t(t)]) tot += v;
      std::vector<std::pair<double, std::int64_t>> order;
      for (std::int64_t e = 0; e < d.E; ++e) {
        psum[std::size_t(e)] += sigma[std::size_t(t)][std::size_t(e)] / tot;
        order.push_back({-sigma[std::size_t(t)][std::size_t(e)], e});
      }
      std::sort(order.begin(), order.end());
      for (std::int64_t i = 0; i < d.k; ++i) cnt[std::size_t(order[std::size_t(i)].second)] += 1;
    }
    for (std::int64_t e = 0; e < d.E; ++e)
      l += d.coeff * d.E / double(d.k * d.T * d.T) * cnt[std::size_t(e)] * psum[std::size_t(e)] /
           double(d.B);
  }
  *aux = l;
  return out;
}

TEST(MoeLayer, MatchesReferenceAndFiniteDifferencesWithTheAuxLoss) {
  const Config c = small_config();
  auto m = make_layer(c);
  std::mt19937 g(1);
  const Params params = randomise(*m, g);
  const Dims d{2, 4, 8, 8, 2};
  const std::int64_t N = d.B * d.T;
  Tensor x = rand_tensor(g, {N, d.H}, -1.5f, 1.5f), w = rand_tensor(g, {N, d.H});
  const Vec xv = to_double(x), wv = to_double(w);
  Context ctx{Device::cpu(), d.B, d.T, true};
  m->zero_grad();
  const Tensor y = m->forward(ctx, x);
  // The choices the layer made: a twin router with the same parameters (the router's own test
  // checks how it makes them).
  std::vector<float> ids;
  {
    auto probe = make_layer(c);
    for (std::size_t i = 0; i < m->parameters().size(); ++i)
      probe->parameters()[i]->value.copy_from(m->parameters()[i]->value);
    ids = probe->router().forward(ctx, x).experts.to_floats();
  }
  double aux = 0;
  expect_close(y, reference(d, params, xv, ids, &aux), 1e-5, "forward");
  EXPECT_NEAR(m->aux_loss(), aux, 1e-7);
  auto loss = [&](const Params& p, const Vec& xx) {
    double a = 0;
    const Vec out = reference(d, p, xx, ids, &a);
    return dot(out, wv) + a;
  };
  const Tensor dx = m->backward(ctx, w);
  expect_close(dx, fd_grad([&](const Vec& v) { return loss(params, v); }, xv, 1e-6), 1e-4, "dx");
  for (Parameter* p : m->parameters()) {
    const Vec& v0 = params.at(p->name);
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i < v0.size(); i += std::max<std::size_t>(1, v0.size() / 40))
      at.push_back(i);
    const Vec fd = fd_grad_at(
        [&](const Vec& v) {
          Params q = params;
          q[p->name] = v;
          return loss(q, xv);
        },
        v0, at, 1e-6);
    const std::vector<float> got = p->grad.to_floats();
    std::vector<float> got_at;
    for (std::size_t i : at) got_at.push_back(got[i]);
    expect_close(got_at, fd, 1e-4, "grad of " + p->name);
  }
}

TEST(MoeLayer, AllExpertsInOneGroupIsTheWeightedSumOfEveryExpert) {
  const Config c = small_config(
      "num_experts = 4\ntopk = 4\nrouter_num_groups = 1\n"
      "router_group_topk = 1\nrouter_load_balancing_type = \"none\"\n");
  auto m = make_layer(c);
  std::mt19937 g(2);
  const Params params = randomise(*m, g);
  const Dims d{1, 5, 8, 4, 4};
  Tensor x = rand_tensor(g, {5, 8});
  Context ctx{Device::cpu(), 1, 5, true};
  double aux = 0;
  expect_close(m->forward(ctx, x), reference(d, params, to_double(x), {}, &aux), 1e-5,
               "k = E: every expert, weights 2.5 sigma / sum sigma");
}

TEST(MoeLayer, DeterministicAndCountsEveryToken) {
  const Config c = small_config();
  auto a = make_layer(c), b = make_layer(c);
  std::mt19937 g(3);
  Tensor x = rand_tensor(g, {12, 8});
  Context ctx{Device::cpu(), 3, 4, true};
  EXPECT_EQ(a->forward(ctx, x).to_floats(), b->forward(ctx, x).to_floats()) << "fixed seed";
  EXPECT_EQ(a->forward(ctx, x).to_floats(), b->forward(ctx, x).to_floats()) << "repeat";
  std::int64_t total = 0;
  for (std::int64_t n : a->step_counts()) total += n;
  EXPECT_EQ(total, 2 * 12 * 2) << "two forwards of 12 tokens, k = 2 (dropless)";
}

TEST(MoeLayer, FinishStepUpdatesTheBiasResetsCountsAndReportsLoad) {
  const Config c = small_config();
  auto m = make_layer(c);
  std::mt19937 g(4);
  Tensor x = rand_tensor(g, {12, 8});
  Context ctx{Device::cpu(), 3, 4, true};
  m->forward(ctx, x);
  const std::vector<std::int64_t> counts = m->step_counts();
  m->finish_step(counts);
  auto& r = static_cast<router::DeepSeekRouter&>(m->router());
  double mean = 0;
  for (std::int64_t n : counts) mean += double(n) / double(counts.size());
  for (std::size_t e = 0; e < counts.size(); ++e) {
    const float want = counts[e] > mean ? -1e-3f : (counts[e] < mean ? 1e-3f : 0.f);
    EXPECT_FLOAT_EQ(r.expert_bias()[e], want) << "expert " << e;
  }
  for (std::int64_t n : m->step_counts()) EXPECT_EQ(n, 0);
  const moe::LoadStats s = m->last_step_stats();
  EXPECT_EQ(s.min, *std::min_element(counts.begin(), counts.end()));
  EXPECT_EQ(s.max, *std::max_element(counts.begin(), counts.end()));
  const moe::LoadStats even = moe::load_stats({3, 3, 3});
  EXPECT_EQ(even.cv, 0.0);
  EXPECT_NEAR(moe::load_stats({1, 3}).cv, 0.5, 1e-12);
}

TEST(MoeLayer, LockedConfigCountsAreTheSpecs) {
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n",
      "locked.toml");
  auto m = make_layer(c);
  EXPECT_EQ(m->parameter_count(), 68716288);
  EXPECT_EQ(m->active_parameter_count(), 2365696);
  const double H = 1024;
  EXPECT_DOUBLE_EQ(m->flops_per_token(4096),
                   2 * 256 * H + 4 * (2 * (2 * 128 * H)) + 2 * (2 * 512 * H));
}

TEST(MoeLayer, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 8\nhidden_size = 256\nnum_attention_heads = 2\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 64\n[moe]\nnum_experts = 16\n"
      "topk = 4\nrouter_num_groups = 4\nrouter_group_topk = 2\nshared_expert_size = 128\n",
      "run.toml");
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    auto cpu = make_layer(c), gpu = make_layer(c, Device::cuda(0), bf16);
    std::mt19937 g(5);
    randomise(*cpu, g);
    for (std::size_t i = 0; i < cpu->parameters().size(); ++i) {
      gpu->parameters()[i]->value.copy_from(cpu->parameters()[i]->value);
      gpu->parameters()[i]->sync_compute();
    }
    const std::int64_t B = 2, T = 64, N = B * T;
    Tensor x = rand_tensor(g, {N, 256}), dy = rand_tensor(g, {N, 256});
    auto on_gpu = [&](const Tensor& t) {
      Tensor f = t.to(Device::cuda(0));
      if (!bf16) return f;
      Tensor b = Tensor::empty(t.shape(), DType::bf16, Device::cuda(0));
      ops::cast(f, b);
      return b;
    };
    Context cc{Device::cpu(), B, T, true}, gc{Device::cuda(0), B, T, true};
    const Tensor yg = gpu->forward(gc, on_gpu(x)), yc = cpu->forward(cc, x);
    // The router runs in fp32 on both sides from the same (bf16-rounded on the GPU) inputs, so
    // a near tie may route one token differently in bf16; f32 must agree exactly.
    const double tol = bf16 ? 5e-2 : 1e-3;
    expect_close(yg.to_floats(), to_double(yc), tol, "forward");
    if (!bf16) {
      expect_close(gpu->backward(gc, on_gpu(dy)).to_floats(), to_double(cpu->backward(cc, dy)), tol,
                   "dx");
      for (std::size_t i = 0; i < cpu->parameters().size(); ++i)
        expect_close(gpu->parameters()[i]->grad.to_floats(), to_double(cpu->parameters()[i]->grad),
                     tol, "grad of " + cpu->parameters()[i]->name);
    }
  }
}

// With the router's counts on the host, the CUDA dispatcher sorts the slots on the device; the
// permutation must be the host sort's exactly (a skewed routing, empty experts included).
TEST(LocalDispatcher, CudaDeviceSortIsTheHostSortBitForBit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const std::int64_t N = 301, k = 4, H = 40;
  const int E = 16;
  std::mt19937 g(11);
  std::vector<std::int32_t> ids(std::size_t(N * k));
  std::vector<std::int64_t> counts(E, 0);
  for (auto& e : ids) {
    e = g() % 3 == 0 ? 3 : std::int32_t(g() % 12);  // expert 3 hot, 12..15 empty
    ++counts[std::size_t(e)];
  }
  const Device dev = Device::cuda(0);
  Tensor experts = Tensor::empty({N, k}, DType::i32, dev);
  device_copy(experts.data(), dev, ids.data(), Device::cpu(), ids.size() * sizeof(std::int32_t));
  Routing with{experts, rand_tensor(g, {N, k}).to(dev), counts}, without = with;
  without.tokens_per_expert.clear();
  const Tensor x = rand_tensor(g, {N, H}).to(dev), y = rand_tensor(g, {N * k, H}).to(dev);
  const Tensor dout = rand_tensor(g, {N, H}).to(dev);
  moe::LocalDispatcher a(E, dev), b(E, dev);
  const moe::Dispatched da = a.dispatch(x, with), db = b.dispatch(x, without);
  EXPECT_EQ(da.rows, db.rows);
  EXPECT_EQ(da.x.to_floats(), db.x.to_floats());
  EXPECT_EQ(a.combine(y).to_floats(), b.combine(y).to_floats());
  Tensor dwa, dwb;
  EXPECT_EQ(a.combine_backward(dout, dwa).to_floats(), b.combine_backward(dout, dwb).to_floats());
  EXPECT_EQ(dwa.to_floats(), dwb.to_floats());
  EXPECT_EQ(a.dispatch_backward(y).to_floats(), b.dispatch_backward(y).to_floats());
}

}  // namespace
}  // namespace vpmoe::testing
