#pragma once
// Data-parallel gradient reduction (spec/training.md §2.4, §4), owned by the trainer.
//   - The parameters go into buckets of at most [parallel] ddp_bucket_size elements (a larger
//     parameter alone in its own), in the order the backward finishes their grads
//     (GptModel::backward_stages), dense ones reduced over dp and expert-sharded ones
//     (Sharding::expert) over expert dp, in separate buckets.
//   - A bucket owns one flat f32 buffer and its parameters' grads are views into it (offsets
//     rounded up to 64 elements, so the views stay 256-byte aligned for vector loads): one
//     collective per bucket.
//   - After the last micro-batch: the sum over the bucket's group, then the scale by 1 / dp
//     (the loss is the mean over the dp ranks, so expert grads too are divided by dp, not by
//     expert dp). A group of one rank skips the collective (unless it is NCCL's: runs_collectives)
//     and dp = 1 the scale, so one process has the bits it had without this.
//   - Overlap: during the last micro-batch's backward the model calls stage_done after each
//     stage; a bucket's asynchronous all-reduce starts as soon as the stage that finishes its
//     last grad is done. finish() starts the rest (all of them without overlap) and waits. The
//     buckets start in the same order on every rank, and each sums the same bytes either way:
//     overlap on and off give identical grads.
#include <cstdint>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/parallel.h"
#include "vpmoe/parameter.h"

namespace vpmoe::host::train {

struct GradSyncOptions {
  std::int64_t bucket_size = 40000000;  // elements per bucket
  bool overlap = true;
};

class GradSync {
 public:
  struct Bucket {
    Comm* comm = nullptr;  // dp, or expert dp
    bool expert = false;
    Tensor buffer;  // flat f32, every grad of the bucket a view into it
    std::vector<Parameter*> params;
    int ready_stage = 0;  // after this backward stage every grad in it is final
    bool started = false;
    CommHandle pending;
  };

  // stages: GptModel::backward_stages() (a parameter listed twice is final at its last
  // stage). Moves every parameter's grad into its bucket, keeping its values.
  GradSync(const std::vector<std::vector<Parameter*>>& stages, const ParallelState& ps,
           GradSyncOptions o);
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Zeroes every grad (one fill per bucket).
  void zero_grads();
  // Before the last micro-batch's backward: no bucket has started.
  void begin();
  // The backward has passed `stage`: starts every bucket now complete (overlap only).
  void stage_done(int stage);
  // Starts the buckets not started yet, waits for all, scales by 1 / dp.
  void finish();
  bool overlap() const { return o_.overlap; }
  // True when any bucket has a collective (some group has more than one rank).
  bool reduces() const;
  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  void start(Bucket& b);
  GradSyncOptions o_;
  int dp_ = 1;
  std::vector<Bucket> buckets_;
};

}  // namespace vpmoe::host::train
