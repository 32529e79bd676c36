// [train] recompute on CUDA (bf16 compute, fp32 main grads): every mode gives the losses, every
// grad, the expert biases and the weights of "none" bit for bit over 3 steps of 2 micro-batches.
// Bitwise because every kernel of the step is deterministic (docs/attention.md: no float
// atomics in the attention backward; docs/moe.md: integer atomics for the routing counts only,
// fixed-order sums for the aux loss, the dispatcher and grouped wgrad without atomics; cuBLAS
// picks the same algorithm for the same shapes): a recomputed forward redoes the same bits.
// The saved bytes after a forward order as on the CPU: full < moe, attention < none.
#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <map>

#include "host/train/tiny_model.h"
#include "tensor/storage.h"
#include "train/batch_source.h"
#include "train/model_builder.h"
#include "train/rerun.h"
#include "train/trainer.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

// Head dimension 16: the smallest the CUDA attention kernels take.
Config cuda_config(const std::string& mode) {
  TinyKeys k;
  k.model =
      "num_layers = 4\nhidden_size = 64\nnum_attention_heads = 4\nnum_query_groups = 2\n"
      "head_dim = 16\nffn_hidden_size = 32\n";
  k.moe_extra = "aux_loss_coeff = 0.01\nrouter_bias_update_rate = 0.01\n";
  k.sections =
      "[train]\nlr = 0.01\nmin_lr = 0.01\ntrain_iters = 3\nprecision = \"bf16\"\n"
      "recompute = \"" +
      mode + "\"\n";
  return tiny_config(k);
}

struct CudaRun {
  explicit CudaRun(const std::string& mode) : c(cuda_config(mode)) {}
  Config c;
  Registry reg = in_tree_plugins();
  std::unique_ptr<model::GptModel> model =
      build_model(c, reg, ModelTarget{Device::cuda(0), true, 77});
  OptimizerSet opt{c, reg, model->parameters()};
  std::shared_ptr<ParallelState> ps = single_process_state();
  Trainer trainer{c, *model, opt, *ps, make_loss(c, reg)};
  MockSource data{c.tokenizer.vocab_size, 2, 32, 5, Device::cuda(0)};
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.nbytes() != b.nbytes()) return false;
  const Tensor x = a.to(Device::cpu()), y = b.to(Device::cpu());
  return std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

class RecomputeCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(RecomputeCuda, EveryModeGivesTheStepsOfNoneBitForBit) {
  for (const char* mode : {"moe", "attention", "full"}) {
    CudaRun none("none"), rec(mode);
    for (int s = 0; s < 3; ++s) {
      const std::string what = std::string(mode) + ", step " + std::to_string(s);
      const StepMetrics want = none.trainer.step(none.data, 2);
      const StepMetrics got = rec.trainer.step(rec.data, 2);
      EXPECT_FALSE(got.skipped) << what;
      EXPECT_TRUE(same_bits(got.loss, want.loss))
          << what << ": " << got.loss << " vs " << want.loss;
      EXPECT_TRUE(same_bits(got.aux_loss, want.aux_loss)) << what;
      EXPECT_TRUE(same_bits(got.grad_norm, want.grad_norm)) << what;
      EXPECT_EQ(got.load.max, want.load.max) << what;
      const auto pw = none.model->parameters(), pg = rec.model->parameters();
      ASSERT_EQ(pw.size(), pg.size());
      for (std::size_t i = 0; i < pw.size(); ++i) {
        EXPECT_TRUE(same_bytes(pg[i]->grad, pw[i]->grad)) << what << ": " << pw[i]->name;
        EXPECT_TRUE(same_bytes(pg[i]->value, pw[i]->value)) << what << ": " << pw[i]->name;
      }
      const auto sw = none.model->state(), sg = rec.model->state();
      for (const auto& [k, t] : sw) EXPECT_TRUE(same_bytes(sg.at(k), t)) << what << ": " << k;
    }
  }
}

TEST_F(RecomputeCuda, TheModesReleaseTheSavedActivations) {
  std::map<std::string, std::int64_t> bytes;
  for (const char* mode : {"none", "moe", "attention", "full"}) {
    CudaRun r(mode);
    const Batch b = r.data.next();
    const Context ctx{Device::cuda(0), b.batch, b.seq_len, true, 1.0};
    const std::int64_t before = Storage::live_bytes(Device::cuda(0));
    r.model->run(ctx, b.ids, b.targets, b.mask, 1.f, /*backward=*/false);
    synchronize(Device::cuda(0));
    bytes[mode] = Storage::live_bytes(Device::cuda(0)) - before;
    std::cout << "saved after the forward on CUDA, " << mode << ": " << bytes[mode] << " bytes\n";
  }
  EXPECT_GT(bytes["full"], 0);
  EXPECT_LT(bytes["full"], bytes["moe"]);
  EXPECT_LT(bytes["full"], bytes["attention"]);
  EXPECT_LT(bytes["moe"], bytes["none"]);
  EXPECT_LT(bytes["attention"], bytes["none"]);
}

}  // namespace
}  // namespace vpmoe::testing
