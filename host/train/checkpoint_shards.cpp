#include "train/checkpoint_shards.h"

#include <cstdio>
#include <cstring>

#include "vpmoe/error.h"

namespace vpmoe::host::train {

Shape global_shape(const Parameter& p, int ep) {
  Shape s = p.value.shape();
  if (p.sharding == Sharding::expert && !s.empty()) s[0] *= ep;
  return s;
}

std::string experts_file(const std::string& stem, int ep_rank) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "_ep%03d", ep_rank);
  return stem + buf + ".safetensors";
}

Tensor gather_rows(std::int64_t first, std::int64_t rows, int saved_ep,
                   const std::function<Tensor(int)>& piece, const std::string& what) {
  Tensor out;
  std::int64_t per = -1;
  for (int k = 0; k < saved_ep; ++k) {
    // Pieces are equal, so the first one read gives their size; skip those outside the range.
    if (per > 0 && ((k + 1) * per <= first || k * per >= first + rows)) continue;
    const Tensor t = piece(k);
    if (t.ndim() == 0) throw Error(what + ": expected a stack of rows, found a scalar");
    if (per < 0) {
      per = t.size(0);
      Shape s = t.shape();
      s[0] = rows;
      out = Tensor::empty(s, t.dtype(), Device::cpu());
      if (first + rows > per * saved_ep)
        throw Error(what + ": rows [" + std::to_string(first) + ", " +
                    std::to_string(first + rows) + ") of " + std::to_string(per * saved_ep));
    }
    Shape want = out.shape();
    want[0] = per;
    if (t.shape() != want || t.dtype() != out.dtype())
      throw Error(what + ": piece " + std::to_string(k) + " is " + t.str() + ", expected " +
                  shape_str(want));
    const std::int64_t lo = std::max(first, k * per), hi = std::min(first + rows, (k + 1) * per);
    if (lo >= hi) continue;
    const std::size_t row = t.nbytes() / std::size_t(per);
    std::memcpy(static_cast<char*>(out.data()) + std::size_t(lo - first) * row,
                static_cast<const char*>(t.data()) + std::size_t(lo - k * per) * row,
                std::size_t(hi - lo) * row);
  }
  return out;
}

}  // namespace vpmoe::host::train
