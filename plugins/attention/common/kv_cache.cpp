#include "kv_cache.h"

#include <string>

#include "vpmoe/error.h"

namespace vpmoe::attention {

void copy_tokens(const Tensor& dst, std::int64_t dst_t, const Tensor& src, std::int64_t src_t,
                 std::int64_t count) {
  if (count <= 0) return;
  if (dst.ndim() < 2 || src.ndim() < 2 || dst.size(0) != src.size(0) || dst_t < 0 || src_t < 0 ||
      dst_t + count > dst.size(1) || src_t + count > src.size(1))
    throw Error("copy_tokens: " + std::to_string(count) + " tokens from row " +
                std::to_string(src_t) + " of " + src.str() + " to row " + std::to_string(dst_t) +
                " of " + dst.str());
  for (std::int64_t b = 0; b < dst.size(0); ++b)
    dst.select(b).slice(dst_t, dst_t + count).copy_from(src.select(b).slice(src_t, src_t + count));
}

void ring_write(const Tensor& ring, std::int64_t p0, const Tensor& src, std::int64_t src_t,
                std::int64_t count) {
  const std::int64_t slots = ring.size(1);
  if (count > slots) {  // only the last `slots` positions survive
    src_t += count - slots, p0 += count - slots, count = slots;
  }
  const std::int64_t s0 = p0 % slots, first = std::min(count, slots - s0);
  copy_tokens(ring, s0, src, src_t, first);
  copy_tokens(ring, 0, src, src_t + first, count - first);
}

void ring_read(const Tensor& ring, std::int64_t p0, const Tensor& dst, std::int64_t dst_t,
               std::int64_t count) {
  const std::int64_t slots = ring.size(1);
  if (count > slots)
    throw Error("ring_read: " + std::to_string(count) + " tokens from a ring of " +
                std::to_string(slots));
  const std::int64_t s0 = p0 % slots, first = std::min(count, slots - s0);
  copy_tokens(dst, dst_t, ring, s0, first);
  copy_tokens(dst, dst_t + first, ring, 0, count - first);
}

}  // namespace vpmoe::attention
