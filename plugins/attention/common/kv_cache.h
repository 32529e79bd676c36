#pragma once
// The decode caches' storage: token rows of [batch, tokens, ...] tensors copied between
// buffers (one copy per sequence), and the plain K/V cache of the GQA layers.
#include <cstdint>

#include "vpmoe/attention.h"

namespace vpmoe::attention {

// dst[b, dst_t + i] = src[b, src_t + i] for i < count and every b; both [B, T, ...] with the
// same trailing shape and dtype.
void copy_tokens(const Tensor& dst, std::int64_t dst_t, const Tensor& src, std::int64_t src_t,
                 std::int64_t count);

// A ring of `slots` token rows: token position p lives in slot p % slots. Copies positions
// [p0, p0 + count) of src (row src_t on) into the ring, or out of it into dst (row dst_t on).
void ring_write(const Tensor& ring, std::int64_t p0, const Tensor& src, std::int64_t src_t,
                std::int64_t count);
void ring_read(const Tensor& ring, std::int64_t p0, const Tensor& dst, std::int64_t dst_t,
               std::int64_t count);

// k and v [B, max_len, ng, d] at absolute positions: k after bias, QK-norm and rotation, v
// after the value-residual mix, i.e. exactly what the core attention reads.
struct KvCache final : AttentionCache {
  Tensor k, v;
  std::int64_t bytes() const override { return std::int64_t(k.nbytes() + v.nbytes()); }
};

}  // namespace vpmoe::attention
