#pragma once
// What incremental decode keeps between calls for a batch of sequences (GptModel::decode):
// every layer's attention cache, layer 1's values of the cached tokens when a layer rebuilds
// past values (TPA), and how far the sequences have got.
#include <memory>
#include <vector>

#include "vpmoe/attention.h"

namespace vpmoe::model {

struct DecodeState {
  std::int64_t batch = 0, max_len = 0;
  std::int64_t position = 0;  // tokens cached per sequence; the next token's absolute position
  std::vector<std::unique_ptr<AttentionCache>> caches;  // one per layer
  // vr.v1_past [batch, max_len, groups, head_dim], kept when keep_v1 (some cache's v1_history).
  ValueResidualState vr;
  bool keep_v1 = false;
  // Memory held: the caches and v1_past.
  std::int64_t bytes() const {
    std::int64_t b = std::int64_t(vr.v1_past.nbytes());
    for (const auto& c : caches) b += c->bytes();
    return b;
  }
};

}  // namespace vpmoe::model
