// The distributed optimizer in one process ([parallel] distributed_optimizer = true, dp = 1):
// the pieces are the whole parameters, so training gives the plain optimizer's losses, norms
// and weights bit for bit (NorMuon matrices, and AdamW for everything); its state names the
// pieces ("<param>@<begin>:<end>.<slot>"), and a plain optimizer and a distributed one both
// load it and go on with the same bits.
#include <gtest/gtest.h>

#include "host/train/tiny_model.h"
#include "train/distributed_optimizer.h"
#include "train/model_builder.h"
#include "train/trainer.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

struct Source final : BatchSource {
  std::int64_t next_batch = 0;
  Batch next() override {
    const std::int64_t B = 2, T = 8, i = next_batch++;
    std::vector<float> ids, targets;
    for (std::int64_t s = 0; s < B; ++s)
      for (std::int64_t t = 0; t < T; ++t) {
        ids.push_back(float((i * 31 + s * 13 + t * 7) % 64));
        targets.push_back(float((i * 17 + s * 5 + t * 3 + 1) % 64));
      }
    Batch b;
    b.batch = B, b.seq_len = T;
    b.ids = Tensor::from_floats(ids, {B * T}, DType::i32);
    b.targets = Tensor::from_floats(targets, {B * T}, DType::i32);
    return b;
  }
  std::uint64_t position() const override { return std::uint64_t(next_batch); }
  void seek(std::uint64_t p) override { next_batch = std::int64_t(p); }
};

struct TinyTraining {
  Config c;
  Registry reg = in_tree_plugins();
  std::unique_ptr<model::GptModel> model;
  std::shared_ptr<ParallelState> ps = single_process_state();
  std::unique_ptr<OptimizerSet> opt;
  std::unique_ptr<Trainer> trainer;
  Source data;
  TinyTraining(bool distributed, const std::string& optimizer) {
    c = tiny_config("aux_loss_coeff = 0.01\n",
                    "[train]\nlr = 0.02\nmin_lr = 0.002\nlr_decay_style = \"cosine\"\n"
                    "train_iters = 10\nclip_grad = 0.5\n[optimizer]\nname = \"" +
                        optimizer +
                        "\"\nnormuon_aux_lr = 0.01\n[parallel]\ndistributed_optimizer = " +
                        (distributed ? "true" : "false") + "\nddp_bucket_size = 700\n");
    model = build_model(c, reg, {Device::cpu(), false, 5});
    opt = std::make_unique<OptimizerSet>(c, reg, model->parameters(), ps.get());
    trainer = std::make_unique<Trainer>(c, *model, *opt, *ps, make_loss(c, reg));
  }
  std::map<std::string, std::vector<float>> weights() {
    std::map<std::string, std::vector<float>> w;
    for (Parameter* p : model->parameters()) w[p->name] = p->value.to_floats();
    return w;
  }
};

class DistributedOptimizerOneRank : public ::testing::TestWithParam<std::string> {};

TEST_P(DistributedOptimizerOneRank, GivesThePlainOptimizersBits) {
  TinyTraining plain(false, GetParam()), dist(true, GetParam());
  ASSERT_FALSE(plain.opt->distributed());
  ASSERT_TRUE(dist.opt->distributed());
  for (const auto& g : dist.opt->groups())
    EXPECT_NE(dynamic_cast<DistributedOptimizer*>(g.optimizer.get()), nullptr);
  bool clipped = false;
  for (int s = 0; s < 4; ++s) {
    const StepMetrics a = plain.trainer->step(plain.data, 2), b = dist.trainer->step(dist.data, 2);
    EXPECT_EQ(a.loss, b.loss) << "step " << s;
    EXPECT_EQ(a.grad_norm, b.grad_norm) << "step " << s;
    clipped = clipped || a.grad_norm > 0.5;
  }
  EXPECT_TRUE(clipped) << "the clip's factor reached the optimizers";
  EXPECT_EQ(dist.weights(), plain.weights());

  // The state names whole-parameter pieces; both kinds of optimizer load it and continue.
  const auto state = dist.opt->state();
  for (const auto& [k, t] : state) EXPECT_NE(k.find('@'), std::string::npos) << k;
  std::map<std::string, Tensor> saved;
  for (const auto& [k, t] : state) saved[k] = t.clone();
  // Each reference (equal so far) takes the next step once: dist for the plain optimizer
  // that loads the state, plain for the distributed one.
  for (bool distributed : {false, true}) {
    TinyTraining next(distributed, GetParam());
    TinyTraining& ref = distributed ? plain : dist;
    auto p = next.model->parameters(), q = ref.model->parameters();
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i]->value.copy_from(q[i]->value);
      p[i]->sync_compute();
    }
    next.model->load_state(ref.model->state());
    next.opt->load_state(saved);
    next.trainer->set_counters(ref.trainer->counters());
    next.data.seek(ref.data.position());
    ref.trainer->step(ref.data, 2);
    next.trainer->step(next.data, 2);
    EXPECT_EQ(next.weights(), ref.weights())
        << (distributed ? "distributed" : "plain") << " optimizer from distributed state";
  }
}

INSTANTIATE_TEST_SUITE_P(Matrices, DistributedOptimizerOneRank,
                         ::testing::Values("normuon", "adamw"));

}  // namespace
}  // namespace vpmoe::testing
