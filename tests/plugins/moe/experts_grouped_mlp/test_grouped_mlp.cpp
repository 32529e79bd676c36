// moe.experts.grouped_mlp: each row through its own expert against a double-precision
// reference, every gradient against finite differences (uneven groups, an empty expert),
// spec counts, config errors, the plugin, expert-parallel shards (the rows of the whole
// stack, bit for bit), and CUDA against the CPU.
#include <map>

#include "core/ops_cpu/cpu_test_util.h"
#include "core/ops_cuda/cuda_test_util.h"
#include "grouped_mlp.h"
#include "plugins/moe/moe_test_util.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

Config small_config(const std::string& extra = "") {
  return parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\nffn_hidden_size = 6\n" +
          extra +
          "[moe]\nnum_experts = 4\n"
          "topk = 2\nrouter_num_groups = 1\nrouter_group_topk = 1\n",
      "run.toml");
}

BuildArgs args_for(const Config& c, Device dev = Device::cpu(), bool bf16 = false) {
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, c.model.num_layers, false, 0};
  a.device = dev;
  a.bf16_compute = bf16;
  return a;
}

// Each row through its own expert: rows[e] consecutive rows for expert e.
Vec reference(const Params& p, const Vec& x, const std::vector<std::int64_t>& rows, bool bias,
              std::int64_t H, std::int64_t F) {
  Vec y;
  std::int64_t r = 0;
  for (std::size_t e = 0; e < rows.size(); ++e)
    for (std::int64_t i = 0; i < rows[e]; ++i, ++r) {
      const Vec row = ffn_reference(p, "layers.2.moe.experts", std::int64_t(e), F, H,
                                    &x[std::size_t(r * H)], bias);
      y.insert(y.end(), row.begin(), row.end());
    }
  return y;
}

void check(const Config& c, bool bias) {
  auto m = experts::build(args_for(c));
  std::mt19937 g(1);
  const Params params = randomise(*m, g);
  const std::vector<std::int64_t> rows = {3, 0, 1, 4};  // expert 1 gets nothing
  const std::int64_t M = 8, H = 8, F = 6;
  Tensor x = rand_tensor(g, {M, H}), w = rand_tensor(g, {M, H});
  const Vec xv = to_double(x), wv = to_double(w);
  auto loss = [&](const Params& p, const Vec& xx) {
    return dot(reference(p, xx, rows, bias, H, F), wv);
  };
  Context ctx{Device::cpu(), 1, M, true};
  m->zero_grad();
  expect_close(m->forward(ctx, x, rows), reference(params, xv, rows, bias, H, F), 1e-5, "forward");
  expect_close(m->backward(ctx, w),
               fd_grad([&](const Vec& v) { return loss(params, v); }, xv, 1e-6), 1e-4, "dx");
  for (Parameter* p : m->parameters()) {
    const Vec fd = fd_grad(
        [&](const Vec& v) {
          Params q = params;
          q[p->name] = v;
          return loss(q, xv);
        },
        params.at(p->name), 1e-6);
    expect_close(p->grad, fd, 1e-4, "grad of " + p->name);
  }
}

TEST(ExpertsGroupedMlp, MatchesReferenceAndFiniteDifferences) {
  check(small_config(), true);
}

TEST(ExpertsGroupedMlp, WithoutBiases) {
  check(small_config("add_bias_linear = false\n"), false);
}

TEST(ExpertsGroupedMlp, RefusesWrongRowCounts) {
  const Config c = small_config();
  auto m = experts::build(args_for(c));
  Context ctx{Device::cpu(), 1, 4, true};
  Tensor x = Tensor::zeros({4, 8}, DType::f32);
  const std::vector<std::int64_t> three = {1, 2, 1}, wrong_total = {1, 1, 1, 0};
  EXPECT_THROW(m->forward(ctx, x, three), Error);
  EXPECT_THROW(m->forward(ctx, x, wrong_total), Error);
}

TEST(ExpertsGroupedMlp, ParameterCountAndFlopsAreTheSpecs) {
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n",
      "locked.toml");
  auto m = experts::build(args_for(c));
  EXPECT_EQ(m->num_experts(), 256);
  EXPECT_EQ(m->parameter_count(), 67403776);
  EXPECT_DOUBLE_EQ(m->flops_per_token(4096), 2.0 * (2.0 * 128 * 1024));
  for (Parameter* p : m->parameters()) EXPECT_EQ(p->sharding, Sharding::expert) << p->name;
}

// Rank `rank` of a world of ep ranks, all of them expert parallel (the comms stay local: the
// plugin reads only the layout).
std::shared_ptr<const ParallelState> ep_state(int ep, int rank) {
  auto s = std::make_shared<ParallelState>(*single_process_state());
  s->layout = ParallelLayout::make(ep, rank, 1, ep);
  return s;
}

TEST(ExpertsGroupedMlp, ExpertParallelShardIsTheRowsOfTheWholeStack) {
  const Config c = small_config();  // 4 experts
  auto whole = experts::build(args_for(c));
  // The initial values (the weights random, the biases zero) of the single-process stack.
  std::map<std::string, std::vector<float>> full;
  for (Parameter* p : whole->parameters()) full[p->name] = p->value.to_floats();
  for (int ep : {2, 4}) {
    for (int r = 0; r < ep; ++r) {
      SCOPED_TRACE("ep " + std::to_string(ep) + ", rank " + std::to_string(r));
      BuildArgs a = args_for(c);
      a.parallel = ep_state(ep, r);
      auto shard = experts::build(a);
      const int L = 4 / ep;
      EXPECT_EQ(shard->num_experts(), L);
      ASSERT_EQ(shard->parameters().size(), whole->parameters().size());
      for (std::size_t i = 0; i < shard->parameters().size(); ++i) {
        const Parameter &p = *shard->parameters()[i], &w = *whole->parameters()[i];
        EXPECT_EQ(p.name, w.name);
        EXPECT_EQ(p.sharding, Sharding::expert) << p.name;
        Shape want = w.value.shape();
        want[0] = L;
        EXPECT_EQ(p.value.shape(), want) << p.name;
        const std::vector<float>& all = full.at(w.name);
        const std::size_t per = all.size() / 4;
        const std::vector<float> rows(all.begin() + std::ptrdiff_t(std::size_t(r * L) * per),
                                      all.begin() + std::ptrdiff_t(std::size_t((r + 1) * L) * per));
        EXPECT_EQ(p.value.to_floats(), rows) << p.name << ": not the whole stack's rows";
      }
      // The shard takes row counts for its own experts only.
      Context ctx{Device::cpu(), 1, 2 * L, true};
      const std::vector<std::int64_t> mine(std::size_t(L), 2), all_four(4, 2);
      EXPECT_EQ(shard->forward(ctx, Tensor::zeros({2 * L, 8}, DType::f32), mine).size(0), 2 * L);
      if (L != 4)
        EXPECT_THROW(shard->forward(ctx, Tensor::zeros({8, 8}, DType::f32), all_four), Error);
      // Skewed routing can leave a rank's experts without rows: empty in, empty out, no grads.
      shard->zero_grad();
      const std::vector<std::int64_t> none(std::size_t(L), 0);
      EXPECT_EQ(shard->forward(ctx, Tensor::empty({0, 8}, DType::f32), none).size(0), 0);
      EXPECT_EQ(shard->backward(ctx, Tensor::empty({0, 8}, DType::f32)).size(0), 0);
      for (Parameter* p : shard->parameters())
        for (float v : p->grad.to_floats()) ASSERT_EQ(v, 0.f) << p->name;
    }
  }
  // The weights really differ between experts, so a wrong offset could not pass.
  const std::vector<float>& w1 = full.at("layers.2.moe.experts.w1");
  EXPECT_NE(std::vector<float>(w1.begin(), w1.begin() + 48),
            std::vector<float>(w1.begin() + 48, w1.begin() + 96));
}

TEST(ExpertsGroupedMlp, ExpertParallelSizeMustDivideTheExperts) {
  const Config c = small_config();
  BuildArgs a = args_for(c);
  a.parallel = ep_state(3, 0);
  try {
    experts::build(a);
    FAIL() << "4 experts over 3 ranks accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert_model_parallel_size"), std::string::npos)
        << e.what();
  }
}

TEST(ExpertsGroupedMlp, ConfigErrorsNameTheKey) {
  try {
    const Config c = small_config("activation = \"relu\"\n");
    experts::build(args_for(c));
    FAIL() << "relu accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[model].activation"), std::string::npos) << e.what();
  }
}

TEST(ExpertsGroupedMlp, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_EXPERTS_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = small_config();
  EXPECT_EQ(reg.create<Experts>("moe.experts.grouped_mlp", args_for(c))->num_experts(), 4);
}

TEST(ExpertsGroupedMlp, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 8\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n[moe]\nnum_experts = 16\n"
      "topk = 4\nrouter_num_groups = 4\nrouter_group_topk = 2\n",
      "run.toml");
  std::vector<std::int64_t> rows(16);
  std::mt19937 g(2);
  std::int64_t M = 0;
  for (std::size_t e = 0; e < rows.size(); ++e)
    M += (rows[e] = e == 5 ? 0 : std::int64_t(g() % 100));
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    auto cpu = experts::build(args_for(c)),
         gpu = experts::build(args_for(c, Device::cuda(0), bf16));
    randomise(*cpu, g);
    for (std::size_t i = 0; i < cpu->parameters().size(); ++i) {
      gpu->parameters()[i]->value.copy_from(cpu->parameters()[i]->value);
      gpu->parameters()[i]->sync_compute();
    }
    auto [xg, xc] = same_on_gpu(rand_tensor(g, {M, 1024}), bf16 ? DType::bf16 : DType::f32);
    auto [dyg, dyc] = same_on_gpu(rand_tensor(g, {M, 1024}), bf16 ? DType::bf16 : DType::f32);
    Context cc{Device::cpu(), 1, M, true}, gc{Device::cuda(0), 1, M, true};
    const double tol = bf16 ? 3e-2 : 1e-3;
    expect_close(gpu->forward(gc, xg, rows).to_floats(), to_double(cpu->forward(cc, xc, rows)), tol,
                 "forward");
    expect_close(gpu->backward(gc, dyg).to_floats(), to_double(cpu->backward(cc, dyc)), tol, "dx");
    for (std::size_t i = 0; i < cpu->parameters().size(); ++i)
      expect_close(gpu->parameters()[i]->grad.to_floats(), to_double(cpu->parameters()[i]->grad),
                   tol, "grad of " + cpu->parameters()[i]->name);
  }
}

}  // namespace
}  // namespace vpmoe::testing
