// moe.router.deepseek_v3: selection against a brute-force reference and the spec's
// invariants (group limit, bias moves the choice but not the weights' formula), gradients of
// the combine weights and the aux loss against finite differences of a double-precision
// forward, the expert-bias update, counts, config errors, the plugin, CUDA against the CPU.
#include <algorithm>
#include <set>

#include "core/ops_cpu/cpu_test_util.h"
#include "deepseek_router.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/version.h"

namespace vpmoe::testing {
namespace {

// E = 16 experts in 4 groups, k = 4 from 2 groups (2 per group).
Config small_config(const std::string& extra = "") {
  return parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[moe]\nnum_experts = 16\ntopk = 4\nrouter_num_groups = 4\n"
      "router_group_topk = 2\naux_loss_coeff = 0.3\n" +
          extra,
      "run.toml");
}

BuildArgs args_for(const Config& c, Device dev = Device::cpu()) {
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, c.model.num_layers, false, 0};
  a.device = dev;
  return a;
}

std::unique_ptr<router::DeepSeekRouter> make(const Config& c, Device dev = Device::cpu()) {
  return std::unique_ptr<router::DeepSeekRouter>(
      static_cast<router::DeepSeekRouter*>(router::build(args_for(c, dev)).release()));
}

// Brute force: every kept-group set of size group_topk, scored by the sum of each group's
// best k/group_topk biased scores; then the best k experts inside the kept groups.
std::vector<int> reference_choice(const std::vector<double>& u, int G, int gk, int k) {
  const int E = int(u.size()), per = E / G, in = k / gk;
  std::vector<std::pair<double, int>> gs;
  for (int g = 0; g < G; ++g) {
    std::vector<double> part(u.begin() + g * per, u.begin() + (g + 1) * per);
    std::sort(part.rbegin(), part.rend());
    double s = 0;
    for (int i = 0; i < in; ++i) s += part[std::size_t(i)];
    gs.push_back({-s, g});
  }
  std::sort(gs.begin(), gs.end());
  std::vector<std::pair<double, int>> cand;
  for (int i = 0; i < gk; ++i)
    for (int e = gs[std::size_t(i)].second * per; e < (gs[std::size_t(i)].second + 1) * per; ++e)
      cand.push_back({-u[std::size_t(e)], e});
  std::sort(cand.begin(), cand.end());
  std::vector<int> out;
  for (int i = 0; i < k; ++i) out.push_back(cand[std::size_t(i)].second);
  return out;
}

double sigmoid(double z) {
  return 1 / (1 + std::exp(-z));
}

TEST(RouterDeepSeekV3, SelectionMatchesBruteForceAndTheGroupLimit) {
  const Config c = small_config();
  auto r = make(c);
  std::mt19937 g(1);
  r->set_expert_bias(randn(g, 16, -0.2f, 0.2f));
  const std::int64_t B = 3, T = 20, N = B * T, E = 16, H = 8;
  Tensor x = rand_tensor(g, {N, H}, -2.f, 2.f);
  Context ctx{Device::cpu(), B, T, true};
  const Routing out = r->forward(ctx, x);
  // Scores from the parameters, in double.
  const std::vector<float> W = r->parameters()[0]->value.to_floats(),
                           bias = r->parameters()[1]->value.to_floats(), xv = x.to_floats();
  const std::vector<float> ids = out.experts.to_floats(), w = out.weights.to_floats();
  std::int64_t total = 0;
  for (std::int64_t t = 0; t < N; ++t) {
    std::vector<double> sig(static_cast<std::size_t>(E)), u(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) {
      double z = bias[std::size_t(e)];
      for (std::int64_t h = 0; h < H; ++h)
        z += double(W[std::size_t(e * H + h)]) * xv[std::size_t(t * H + h)];
      sig[std::size_t(e)] = sigmoid(z);
      u[std::size_t(e)] = sig[std::size_t(e)] + r->expert_bias()[std::size_t(e)];
    }
    const std::vector<int> want = reference_choice(u, 4, 2, 4);
    std::set<int> groups;
    double S = 0;
    for (int i = 0; i < 4; ++i) {
      const int got = int(ids[std::size_t(t * 4 + i)]);
      ASSERT_EQ(got, want[std::size_t(i)]) << "token " << t << " slot " << i;
      groups.insert(got / 4);
      S += sig[std::size_t(got)];
    }
    EXPECT_LE(groups.size(), 2u) << "experts from more than group_topk groups";
    for (int i = 0; i < 4; ++i)  // unbiased scores in the weights
      EXPECT_NEAR(w[std::size_t(t * 4 + i)], 2.5 * sig[std::size_t(want[std::size_t(i)])] / S,
                  1e-6);
  }
  for (std::int64_t n : out.tokens_per_expert) total += n;
  EXPECT_EQ(total, N * 4) << "dropless: N k selections";
}

TEST(RouterDeepSeekV3, LargeBiasForcesAnExpertWithoutChangingTheWeightsFormula) {
  const Config c = small_config();
  auto r = make(c);
  std::mt19937 g(2);
  Tensor x = rand_tensor(g, {10, 8});
  Context ctx{Device::cpu(), 1, 10, true};
  std::vector<float> beta(16, 0.f);
  beta[13] = 100.f;
  r->set_expert_bias(beta);
  const Routing out = r->forward(ctx, x);
  EXPECT_EQ(out.tokens_per_expert[13], 10);
  const std::vector<float> ids = out.experts.to_floats();
  for (int t = 0; t < 10; ++t)
    EXPECT_EQ(ids[std::size_t(t * 4)], 13.f) << "first slot, token " << t;
  // The weights still sum to the scaling factor (unbiased scores, normalised).
  const std::vector<float> w = out.weights.to_floats();
  for (int t = 0; t < 10; ++t)
    EXPECT_NEAR(w[std::size_t(4 * t)] + w[std::size_t(4 * t + 1)] + w[std::size_t(4 * t + 2)] +
                    w[std::size_t(4 * t + 3)],
                2.5, 1e-5);
}

// loss = sum(g * weights) + aux_scale * aux, in double, with the choices fixed to `ids`.
struct Ref {
  std::int64_t B, T, E = 16, H = 8, k = 4;
  double coeff = 0.3, aux_scale = 1.0;
  bool seq = true;
  double loss(const Vec& W, const Vec& b, const Vec& x, const std::vector<float>& ids,
              const Vec& gw) const {
    const std::int64_t N = B * T;
    std::vector<Vec> sig(static_cast<std::size_t>(N), Vec(static_cast<std::size_t>(E)));
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t e = 0; e < E; ++e) {
        double z = b[std::size_t(e)];
        for (std::int64_t h = 0; h < H; ++h)
          z += W[std::size_t(e * H + h)] * x[std::size_t(t * H + h)];
        sig[std::size_t(t)][std::size_t(e)] = sigmoid(z);
      }
    double l = 0;
    for (std::int64_t t = 0; t < N; ++t) {
      double S = 1e-20;
      for (std::int64_t i = 0; i < k; ++i)
        S += sig[std::size_t(t)][std::size_t(ids[std::size_t(t * k + i)])];
      for (std::int64_t i = 0; i < k; ++i)
        l += gw[std::size_t(t * k + i)] * 2.5 *
             sig[std::size_t(t)][std::size_t(ids[std::size_t(t * k + i)])] / S;
    }
    const std::int64_t seqs = seq ? B : 1, len = N / seqs;
    for (std::int64_t s = 0; s < seqs; ++s) {
      Vec psum(static_cast<std::size_t>(E), 0.0), cnt(static_cast<std::size_t>(E), 0.0);
      for (std::int64_t t = s * len; t < (s + 1) * len; ++t) {
        double tot = 0;
        for (double v : sig[std::size_t(t)]) tot += v;
        std::vector<std::pair<double, int>> p;
        for (std::int64_t e = 0; e < E; ++e) {
          psum[std::size_t(e)] += sig[std::size_t(t)][std::size_t(e)] / tot;
          p.push_back({-sig[std::size_t(t)][std::size_t(e)], int(e)});
        }
        std::sort(p.begin(), p.end());
        for (std::int64_t i = 0; i < k; ++i) cnt[std::size_t(p[std::size_t(i)].second)] += 1;
      }
      for (std::int64_t e = 0; e < E; ++e)
        l += aux_scale * coeff * E / double(k * len * len) * cnt[std::size_t(e)] *
             psum[std::size_t(e)] / double(seqs);
    }
    return l;
  }
};

void check_gradients(const std::string& balancing, bool seq, double aux_scale = 1.0) {
  const Config c = small_config("router_load_balancing_type = \"" + balancing + "\"\n");
  auto r = make(c);
  std::mt19937 g(3);
  const std::int64_t B = 2, T = 6, N = B * T;
  Tensor x = rand_tensor(g, {N, 8}, -2.f, 2.f);
  Context ctx{Device::cpu(), B, T, true, aux_scale};
  const Routing out = r->forward(ctx, x);
  Tensor gw = rand_tensor(g, {N, 4});
  Ref ref{B, T};
  ref.seq = seq;
  if (balancing == "none") ref.coeff = 0;
  const std::vector<float> ids = out.experts.to_floats();
  const Vec W = to_double(r->parameters()[0]->value), b = to_double(r->parameters()[1]->value),
            xv = to_double(x), gv = to_double(gw);
  EXPECT_NEAR(r->aux_loss(), ref.loss(W, b, xv, ids, Vec(gv.size(), 0.0)), 1e-6);
  ref.aux_scale = aux_scale;
  r->zero_grad();
  const Tensor dx = r->backward(ctx, gw);
  expect_close(dx, fd_grad([&](const Vec& v) { return ref.loss(W, b, v, ids, gv); }, xv, 1e-6),
               1e-4, "dx");
  expect_close(r->parameters()[0]->grad,
               fd_grad([&](const Vec& v) { return ref.loss(v, b, xv, ids, gv); }, W, 1e-6), 1e-4,
               "dW");
  expect_close(r->parameters()[1]->grad,
               fd_grad([&](const Vec& v) { return ref.loss(W, v, xv, ids, gv); }, b, 1e-6), 1e-4,
               "db");
}

TEST(RouterDeepSeekV3, GradientsWithSequenceAuxLossMatchFiniteDifferences) {
  check_gradients("seq_aux_loss", true);
}
TEST(RouterDeepSeekV3, GradientsWithBatchAuxLossMatchFiniteDifferences) {
  check_gradients("aux_loss", false);
}
TEST(RouterDeepSeekV3, GradientsWithoutAuxLossMatchFiniteDifferences) {
  check_gradients("none", true);
}
// The trainer weights the aux loss like the main loss (1 / micro-batches): Context says so.
TEST(RouterDeepSeekV3, AuxLossScaleWeightsOnlyTheAuxGradient) {
  check_gradients("seq_aux_loss", true, 0.25);
}

TEST(RouterDeepSeekV3, ExpertBiasMovesByExactlyTheRate) {
  const Config c = small_config();
  auto r = make(c);
  std::vector<std::int64_t> counts(16, 5);
  counts[0] = 9, counts[1] = 1;  // mean stays 5
  r->update_expert_bias(counts);
  EXPECT_FLOAT_EQ(r->expert_bias()[0], -1e-3f) << "over-loaded goes down";
  EXPECT_FLOAT_EQ(r->expert_bias()[1], 1e-3f) << "under-loaded goes up";
  EXPECT_EQ(r->expert_bias()[2], 0.f) << "sign(0) = 0";
  EXPECT_THROW(r->update_expert_bias({1, 2}), Error);
}

// Decode routes one token at a time in evaluation: each row's choice and weights are the
// batch's, and nothing moves (aux loss, expert bias, counts are the MoE layer's and skipped).
TEST(RouterDeepSeekV3, EvaluationRoutesEachRowAloneAndChangesNoState) {
  const Config c = small_config();
  auto r = make(c);
  r->set_expert_bias(std::vector<float>{0.01f, 0.f, -0.02f, 0.f, 0.f, 0.03f, 0.f, 0.f, 0.f, 0.1f,
                                        0.f, 0.f, 0.f, 0.f, 0.f, -0.05f});
  std::mt19937 g(91);
  const std::int64_t B = 2, T = 5, N = B * T, k = 4;
  const Tensor x = rand_tensor(g, {N, 8});
  const Routing all = r->forward(Context{Device::cpu(), B, T, true}, x);
  const double aux = r->aux_loss();
  EXPECT_GT(aux, 0.0);
  const std::vector<float> bias = r->expert_bias();
  const std::vector<float> ids = all.experts.to_floats(), w = all.weights.to_floats();
  for (std::int64_t t = 0; t < N; ++t) {
    const Routing one = r->forward(Context{Device::cpu(), 1, 1, false}, x.slice(t, t + 1).clone());
    const std::vector<float> oi = one.experts.to_floats(), ow = one.weights.to_floats();
    for (std::int64_t i = 0; i < k; ++i) {
      EXPECT_EQ(oi[std::size_t(i)], ids[std::size_t(t * k + i)]) << "row " << t;
      EXPECT_EQ(ow[std::size_t(i)], w[std::size_t(t * k + i)]) << "row " << t;
    }
  }
  EXPECT_EQ(r->aux_loss(), aux) << "evaluation keeps the training forward's aux loss";
  EXPECT_EQ(r->expert_bias(), bias);
}

TEST(RouterDeepSeekV3, ParameterCountAndFlopsAreTheSpecs) {
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n",
      "locked.toml");
  auto r = make(c);
  EXPECT_EQ(r->parameter_count(), 262400);
  EXPECT_DOUBLE_EQ(r->flops_per_token(4096), 2.0 * 256 * 1024);
}

TEST(RouterDeepSeekV3, ConfigErrorsNameTheKey) {
  auto msg = [](const std::string& extra) {
    try {
      const Config c = small_config(extra);
      make(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(msg("router_score_function = \"softmax\"\n").find("[moe].router_score_function"),
            std::string::npos);
  EXPECT_NE(msg("router_num_groups = 3\n").find("router_num_groups"), std::string::npos);
  const std::string gk = msg("router_group_topk = 3\n");
  EXPECT_NE(gk.find("router_group_topk"), std::string::npos) << gk;
}

TEST(RouterDeepSeekV3, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_ROUTER_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = small_config();
  EXPECT_EQ(reg.create<Router>("moe.router.deepseek_v3", args_for(c))->spec_name(),
            "moe.router.deepseek_v3");
}

#if VPMOE_HAS_CUDA
// The routing kernels against routing_math on the same logits: the same choices, counts and
// weights (the same double comparisons), the aux loss and dlogits to f32 rounding.
void check_kernels(const router::RoutingShape& s, std::int64_t B, std::int64_t T, bool with_bias,
                   bool aux, std::uint32_t seed) {
  const std::int64_t N = B * T, E = s.experts, k = s.k;
  const double coeff = 0.3, aux_scale = 0.5;
  std::mt19937 g(seed);
  const std::vector<float> z = randn(g, std::size_t(N * E), -3.f, 3.f);
  const std::vector<float> beta =
      with_bias ? randn(g, std::size_t(E), -0.1f, 0.1f) : std::vector<float>();
  const std::vector<float> dw = randn(g, std::size_t(N * k));
  // Host reference.
  std::vector<float> sigma(z.size()), w(std::size_t(N * k));
  for (std::size_t i = 0; i < z.size(); ++i)
    sigma[i] = float(1.0 / (1.0 + std::exp(-double(z[i]))));
  std::vector<std::int32_t> ids(std::size_t(N * k));
  std::vector<std::int64_t> counts(std::size_t(E), 0);
  std::vector<double> dsig(z.size(), 0.0);
  for (std::int64_t t = 0; t < N; ++t) {
    const std::span<const float> row(sigma.data() + t * E, std::size_t(E));
    router::select_experts(s, row, beta, std::span<std::int32_t>(ids).subspan(t * k, k),
                           std::span<float>(w).subspan(t * k, k));
    for (std::int64_t i = 0; i < k; ++i) ++counts[std::size_t(ids[std::size_t(t * k + i)])];
  }
  double loss = 0;
  if (aux)
    for (std::int64_t b = 0; b < B; ++b)
      loss += router::seq_aux_loss(
                  s, coeff, std::span<const float>(sigma).subspan(b * T * E, T * E), T,
                  aux_scale / double(B), std::span<double>(dsig).subspan(b * T * E, T * E)) /
              double(B);
  std::vector<double> dz(z.size());
  for (std::int64_t t = 0; t < N; ++t)
    router::combine_backward(s, std::span<const float>(sigma).subspan(t * E, E),
                             std::span<const std::int32_t>(ids).subspan(t * k, k),
                             std::span<const float>(dw).subspan(t * k, k),
                             std::span<double>(dsig).subspan(t * E, E));
  for (std::size_t i = 0; i < dz.size(); ++i) dz[i] = dsig[i] * sigma[i] * (1.0 - sigma[i]);

  const Device gpu = Device::cuda(0);
  const Tensor zt = Tensor::from_floats(z, {N, E}, DType::f32, gpu);
  const Tensor bt = with_bias ? Tensor::from_floats(beta, {E}, DType::f32, gpu) : Tensor();
  const router::cuda::RouteState st = router::cuda::route_forward(s, zt, bt, B, aux, coeff);
  const std::vector<float> gid = st.experts.to_floats(), gw = st.weights.to_floats(),
                           gcount = st.counts.to_floats(), gsig = st.sigma.to_floats();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(int(gid[i]), ids[i]) << "token " << i / std::size_t(k) << " slot " << i % k;
    ASSERT_EQ(gw[i], w[i]) << "weight, token " << i / std::size_t(k);
  }
  for (std::int64_t e = 0; e < E; ++e)
    EXPECT_EQ(std::int64_t(gcount[std::size_t(e)]), counts[std::size_t(e)]);
  for (std::size_t i = 0; i < sigma.size(); ++i) ASSERT_EQ(gsig[i], sigma[i]) << "sigma " << i;
  if (aux) EXPECT_NEAR(st.aux_loss.item(), loss, 1e-5 * loss) << "aux loss";
  const Tensor gdz = router::cuda::route_backward(
      s, st, Tensor::from_floats(dw, {N, k}, DType::f32, gpu), coeff, aux_scale);
  expect_close(gdz.to_floats(), dz, 1e-5, "dlogits");
}

TEST(RouterDeepSeekV3, RoutingKernelsMatchTheHostMath) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // The locked shape (group max), two per kept group, and E not a multiple of 32.
  check_kernels({256, 4, 8, 4, 2.5}, 2, 300, true, true, 11);
  check_kernels({256, 4, 8, 4, 2.5}, 1, 64, false, false, 12);
  check_kernels({16, 4, 4, 2, 2.5}, 3, 50, true, true, 13);
  check_kernels({48, 6, 6, 3, 1.0}, 2, 129, true, true, 14);
  check_kernels({1000, 8, 20, 4, 2.5}, 1, 70, true, true, 15);
}
#endif

TEST(RouterDeepSeekV3, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 8\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n",
      "run.toml");
  auto rc = make(c), rg = make(c, Device::cuda(0));
  std::mt19937 g(4);
  const std::int64_t B = 2, T = 256, N = B * T;
  Tensor x = rand_tensor(g, {N, 1024}), gw = rand_tensor(g, {N, 4});
  Context cc{Device::cpu(), B, T, true}, gc{Device::cuda(0), B, T, true};
  const Routing a = rc->forward(cc, x), b = rg->forward(gc, x.to(Device::cuda(0)));
  // Same parameters (seeded init); cuBLAS and the CPU GEMM may round differently, so near-tied
  // choices could differ: require nearly all to agree and compare the rest of the pipeline.
  const std::vector<float> ia = a.experts.to_floats(), ib = b.experts.to_floats();
  std::size_t same = 0;
  for (std::size_t i = 0; i < ia.size(); ++i) same += ia[i] == ib[i];
  EXPECT_GE(double(same) / double(ia.size()), 0.99);
  EXPECT_NEAR(rc->aux_loss(), rg->aux_loss(), 1e-3 * std::abs(rc->aux_loss()) + 1e-9);
  if (same == ia.size()) {
    expect_close(rg->backward(gc, gw.to(Device::cuda(0))).to_floats(),
                 to_double(rc->backward(cc, gw)), 1e-4, "dx");
    for (std::size_t i = 0; i < rc->parameters().size(); ++i)
      expect_close(rg->parameters()[i]->grad.to_floats(), to_double(rc->parameters()[i]->grad),
                   1e-4, "grad " + rc->parameters()[i]->name);
  }
}

}  // namespace
}  // namespace vpmoe::testing
