// The whole model and the training run on CUDA against the CPU, on fresh inputs:
// - f32 on CUDA: the loss and every parameter's gradient match the CPU (fp32) model built from
//   the same seed (parameters are initialised from their names, not the device);
// - bf16 compute: the loss within bf16 accuracy, the gradient's global norm close;
// - a bf16 run trains (the loss falls) and resumes from its checkpoint bit for bit;
// - with one rank the distributed optimizer (bf16 compute refreshed from the pieces' views)
//   and small gradient buckets give the plain run's losses and weights bit for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops_cuda/cuda_test_util.h"
#include "host/train/run_fixture.h"
#include "train/batch_source.h"
#include "train/model_builder.h"
#include "train/safetensors.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

// Head dimension 16: the smallest the CUDA attention kernels take.
const char* kModel =
    "num_layers = 4\nhidden_size = 64\nnum_attention_heads = 4\nnum_query_groups = 2\n"
    "head_dim = 16\nffn_hidden_size = 32\n";

class TrainCuda : public RunTest {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
    RunTest::SetUp();
  }
  // The weights of two 3-step runs' final checkpoints, bit for bit.
  void expect_same_weights(const std::string& a_run, const std::string& b_run) {
    const auto a =
        read_safetensors((dir_ / a_run / "checkpoints/step_00000003/model.safetensors").string());
    const auto b =
        read_safetensors((dir_ / b_run / "checkpoints/step_00000003/model.safetensors").string());
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) {
      ASSERT_TRUE(b.count(name)) << name;
      EXPECT_EQ(b.at(name).to_floats(), t.to_floats()) << name;
    }
  }
};

struct Pass {
  double loss;
  std::vector<Tensor> grads;  // on the CPU
  std::vector<std::string> names;
};

Pass run_once(const Config& c, const Registry& reg, Device d, bool bf16, const Batch& cpu_batch) {
  auto m = build_model(c, reg, ModelTarget{d, bf16, 77});
  Context ctx{d, cpu_batch.batch, cpu_batch.seq_len, true, 1.0};
  const Tensor mask = cpu_batch.mask.defined() ? cpu_batch.mask.to(d) : Tensor();
  const auto st = m->run(ctx, cpu_batch.ids.to(d), cpu_batch.targets.to(d), mask, 1.f, true);
  Pass p{st.mean() + m->aux_loss(), {}, {}};
  for (Parameter* q : m->parameters()) {
    p.grads.push_back(q->grad.to(Device::cpu()));
    p.names.push_back(q->name);
  }
  return p;
}

TEST_F(TrainCuda, ModelMatchesTheCpu) {
  const Config c = config("cmp", 1, "", kModel);
  MockSource src(c.tokenizer.vocab_size, 2, 8, 5, Device::cpu());
  const Batch b = src.next();
  const Pass cpu = run_once(c, reg_, Device::cpu(), false, b);
  const Pass f32 = run_once(c, reg_, Device::cuda(0), false, b);
  EXPECT_NEAR(f32.loss, cpu.loss, 1e-4 * std::abs(cpu.loss));
  // The attention kernels multiply in bf16 even for f32 tensors (docs/attention.md), so the
  // attention's own parameters get bf16-level gradients, as test_attention_* allows; the rest
  // (embedding, norms, FFN, MoE, head) stay within 1% (0.4% measured for the router bias, whose
  // gradient comes through the upper layers' attention).
  for (std::size_t i = 0; i < cpu.grads.size(); ++i) {
    const std::string& n = cpu.names[i];
    const bool attn =
        n.find(".attention") != std::string::npos || n.find(".positional.") != std::string::npos;
    EXPECT_LT(rel_err(f32.grads[i], cpu.grads[i]), attn ? 6e-2 : 1e-2) << n;
  }

  const Pass bf = run_once(c, reg_, Device::cuda(0), true, b);
  EXPECT_NEAR(bf.loss, cpu.loss, 2e-2 * std::abs(cpu.loss));
  Tensor n_cpu = Tensor::empty({1}, DType::f32), n_bf = Tensor::empty({1}, DType::f32);
  ops::global_l2_norm(cpu.grads, n_cpu);
  ops::global_l2_norm(bf.grads, n_bf);
  EXPECT_NEAR(n_bf.item(), n_cpu.item(), 0.1 * n_cpu.item());
}

TEST_F(TrainCuda, Bf16RunTrainsAndResumesBitForBit) {
  train_extra = "precision = \"bf16\"\n";
  const RunResult straight = train_run(config("s", 6, "", kModel, "cuda"), reg_);
  ASSERT_EQ(straight.losses.size(), 6u);
  EXPECT_LT(straight.valid_losses.back(), straight.valid_losses.front());
  train_run(config("r", 3, "", kModel, "cuda"), reg_);
  RunOptions o;
  o.resume = true;
  const RunResult resumed = train_run(config("r", 6, "", kModel, "cuda"), reg_, o);
  ASSERT_EQ(resumed.losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(resumed.losses[i], straight.losses[i + 3]) << "step " << i + 4;
}

TEST_F(TrainCuda, DistributedOptimizerOnOneRankGivesThePlainBits) {
  train_extra = "precision = \"bf16\"\n";
  const RunResult plain = train_run(config("plain", 3, "", kModel, "cuda"), reg_);
  const RunResult dist = train_run(
      config("dist", 3, "[parallel]\ndistributed_optimizer = true\nddp_bucket_size = 5000\n",
             kModel, "cuda"),
      reg_);
  ASSERT_EQ(plain.losses.size(), 3u);
  EXPECT_EQ(dist.losses, plain.losses);
  expect_same_weights("plain", "dist");
}

// The NCCL path on one GPU: a communicator of one rank ([parallel] backend = "nccl") runs every
// collective of the step (gradient buckets, metrics, expert counts, the distributed optimizer's
// all-gather, the checkpoint's barriers) and gives the bits of the run without one.
TEST_F(TrainCuda, OneRankNcclStepIsTheStepWithoutACommunicator) {
  train_extra = "precision = \"bf16\"\n";
  const std::string dist = "[parallel]\ndistributed_optimizer = true\nddp_bucket_size = 5000\n";
  const RunResult none =
      train_run(config("none", 3, dist + "backend = \"none\"\n", kModel, "cuda"), reg_);
  const RunResult nccl =
      train_run(config("nccl", 3, dist + "backend = \"nccl\"\n", kModel, "cuda"), reg_);
  ASSERT_EQ(none.losses.size(), 3u);
  EXPECT_EQ(nccl.losses, none.losses);
  EXPECT_EQ(nccl.valid_losses, none.valid_losses);
  expect_same_weights("none", "nccl");
}

}  // namespace
}  // namespace vpmoe::testing
