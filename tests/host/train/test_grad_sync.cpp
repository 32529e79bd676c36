// GradSync in one process: the buckets hold every parameter once, in backward order, dense and
// expert apart and within the size limit (one parameter larger than the limit alone); the
// grads become views into the buckets and keep their values. With a two-rank stand-in group
// (fake_comm.h) the overlapped all-reduces start during the last backward, exactly after the
// stage that finishes each bucket, no grad is written after its bucket started, and the mean
// over the two identical "ranks" is the single process's grads bit for bit, overlapped or not.
#include <gtest/gtest.h>

#include <set>

#include "host/train/fake_comm.h"
#include "host/train/tiny_model.h"
#include "train/grad_sync.h"
#include "train/model_builder.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

struct Tiny {
  Config c = tiny_config("aux_loss_coeff = 0.01\n");
  Registry reg = in_tree_plugins();
  std::unique_ptr<model::GptModel> model = build_model(c, reg, {Device::cpu(), false, 5});
};

// Runs micro-batch i (forward and backward) of a fixed set.
void run(model::GptModel& m, int i, float scale) {
  const std::int64_t B = 2, T = 8;
  std::vector<float> ids, targets;
  for (std::int64_t s = 0; s < B; ++s)
    for (std::int64_t t = 0; t < T; ++t) {
      ids.push_back(float((i * 31 + s * 13 + t * 7) % 64));
      targets.push_back(float((i * 17 + s * 5 + t * 3 + 1) % 64));
    }
  Context ctx{Device::cpu(), B, T, true, double(scale)};
  m.run(ctx, Tensor::from_floats(ids, {B * T}, DType::i32),
        Tensor::from_floats(targets, {B * T}, DType::i32), Tensor(), scale, true);
}

std::shared_ptr<ParallelState> twin_state(std::shared_ptr<TwinComm> dp,
                                          std::shared_ptr<TwinComm> expert_dp) {
  auto ps = single_process_state();
  auto twin = std::make_shared<ParallelState>(*ps);
  twin->dp = dp, twin->expert_dp = expert_dp;
  return twin;
}

TEST(GradSync, BucketsHoldEveryParameterOnceInBackwardOrder) {
  Tiny t;
  std::map<std::string, std::vector<float>> before;
  std::int64_t i = 0;
  for (Parameter* p : t.model->parameters()) {
    std::vector<float> g(std::size_t(p->grad.numel()));
    for (float& x : g) x = float(++i % 97);
    p->grad.copy_from(Tensor::from_floats(g, p->grad.shape(), DType::f32));
    before[p->name] = g;
  }
  const auto stages = t.model->backward_stages();
  const std::int64_t limit = 300;
  GradSync sync(stages, *single_process_state(), {limit, true});
  std::set<const Parameter*> seen;
  int last_ready = 0;
  for (const GradSync::Bucket& b : sync.buckets()) {
    ASSERT_FALSE(b.params.empty());
    EXPECT_TRUE(b.buffer.numel() <= limit || b.params.size() == 1)
        << b.buffer.numel() << " elements in " << b.params.size() << " parameters";
    const float* lo = b.buffer.data_as<float>();
    for (const Parameter* p : b.params) {
      EXPECT_TRUE(seen.insert(p).second) << p->name << " in two buckets";
      EXPECT_EQ(p->sharding == Sharding::expert, b.expert) << p->name;
      const float* at = p->grad.data_as<float>();
      EXPECT_TRUE(at >= lo && at + p->grad.numel() <= lo + b.buffer.numel()) << p->name;
      EXPECT_EQ((at - lo) % 64, 0) << p->name << " is not aligned";
      EXPECT_EQ(p->grad.to_floats(), before.at(p->name)) << p->name << " lost its values";
    }
    // A bucket is ready at the stage of its last grad: never before any of its parameters.
    for (const Parameter* p : b.params) {
      int stage = -1;
      for (std::size_t s = 0; s < stages.size(); ++s)
        for (const Parameter* q : stages[s])
          if (q == p) stage = int(s);
      EXPECT_LE(stage, b.ready_stage) << p->name;
    }
    if (!b.expert) {
      EXPECT_GE(b.ready_stage, last_ready) << "dense buckets in backward order";
      last_ready = b.ready_stage;
    }
  }
  EXPECT_EQ(seen.size(), t.model->parameters().size());
  bool expert = false;
  for (const auto& b : sync.buckets()) expert = expert || b.expert;
  EXPECT_TRUE(expert) << "the tiny model's experts are Sharding::expert";
  sync.zero_grads();
  for (Parameter* p : t.model->parameters())
    for (float x : p->grad.to_floats()) ASSERT_EQ(x, 0.f) << p->name;
}

// The grads of micro-batches 0..k-1 through a GradSync over ps; stage_calls records, after
// each backward stage of the last micro-batch, which buckets had started.
std::vector<std::vector<float>> reduced(const std::shared_ptr<ParallelState>& ps, bool overlap,
                                        std::int64_t bucket, int k,
                                        std::vector<std::vector<bool>>* stage_calls = nullptr) {
  Tiny t;
  GradSync sync(t.model->backward_stages(), *ps, {bucket, overlap});
  sync.zero_grads();
  for (int i = 0; i < k; ++i) {
    if (i + 1 == k) {
      sync.begin();
      t.model->set_backward_hook([&](int stage) {
        sync.stage_done(stage);
        if (!stage_calls) return;
        std::vector<bool> started;
        for (const auto& b : sync.buckets()) {
          started.push_back(b.started);
          EXPECT_EQ(b.started, overlap && b.ready_stage <= stage) << "stage " << stage;
        }
        stage_calls->push_back(started);
      });
    }
    run(*t.model, i, 1.f / float(k));
  }
  t.model->set_backward_hook(nullptr);
  sync.finish();
  std::vector<std::vector<float>> g;
  for (Parameter* p : t.model->parameters()) g.push_back(p->grad.to_floats());
  return g;
}

TEST(GradSync, OverlappedMeanOverTwinRanksIsTheSingleProcessGrads) {
  const auto one = reduced(single_process_state(), true, 1000, 2);
  for (std::int64_t bucket : {std::int64_t(1), std::int64_t(1000), std::int64_t(1) << 30})
    for (bool overlap : {true, false}) {
      auto dp = std::make_shared<TwinComm>(), xdp = std::make_shared<TwinComm>();
      std::vector<std::vector<bool>> calls;
      const auto two = reduced(twin_state(dp, xdp), overlap, bucket, 2, &calls);
      EXPECT_EQ(two, one) << "bucket " << bucket << (overlap ? ", overlap" : "");
      EXPECT_GT(dp->starts, 0);
      EXPECT_GT(xdp->starts, 0) << "expert buckets go over expert dp";
      EXPECT_EQ(dp->changed_after_start + xdp->changed_after_start, 0)
          << "a grad was written after its bucket started";
      Tiny t;
      ASSERT_EQ(calls.size(), t.model->backward_stages().size());
      if (overlap && bucket <= 1000) {
        EXPECT_TRUE(std::find(calls.front().begin(), calls.front().end(), true) !=
                    calls.front().end())
            << "the head's bucket starts before the layers' backward";
      }
      if (overlap) {
        for (bool s : calls.back()) EXPECT_TRUE(s) << "every bucket started in the backward";
      }
    }
}

}  // namespace
}  // namespace vpmoe::testing
