#pragma once
// The model of a run, built from spec names (spec/training.md, DESIGN.md "Spec names"): per
// layer the [plugins] attention and positional names of its role (local window or global, the
// 3:1 schedule of [attention]), a dense FFN (ffn_dense) or a MoE layer (router, experts, the
// shared expert, the local dispatcher or with ep > 1 the all-to-all one) as [moe]
// first_layer_dense says, around the core's embedding, transformer layers, final norm and
// head. A name no loaded plugin provides fails with the names that are.
#include <memory>

#include "model/gpt_model.h"
#include "vpmoe/config.h"
#include "vpmoe/parallel.h"
#include "vpmoe/registry.h"

namespace vpmoe::host::train {

struct ModelTarget {
  Device device;
  bool bf16 = false;  // bf16 compute (CUDA)
  std::uint64_t seed = 1234;
  std::shared_ptr<const ParallelState> parallel;  // null: one process
};

std::unique_ptr<model::GptModel> build_model(const Config& c, const Registry& reg,
                                             const ModelTarget& t);

}  // namespace vpmoe::host::train
