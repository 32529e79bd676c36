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

std::string owner_of_state_key(const std::string& key, const std::vector<std::string>& names) {
  const std::size_t slash = key.find('/');
  const std::string rest = slash == std::string::npos ? key : key.substr(slash + 1);
  std::string best;
  for (const std::string& n : names)
    if (n.size() > best.size() && rest.size() > n.size() && rest.compare(0, n.size(), n) == 0 &&
        (rest[n.size()] == '.' || rest[n.size()] == '@'))
      best = n;
  return best;
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

namespace vpmoe::host::train {

std::string state_key_to_global(const std::string& key,
                                const std::map<std::string, std::int64_t>& expert_units,
                                int ep_rank, int ep) {
  if (ep == 1) return key;
  const std::size_t at = key.find('@');
  if (at != std::string::npos) {
    const auto it = expert_units.find(key.substr(0, at));
    const std::size_t colon = key.find(':', at), dot = key.find('.', colon);
    if (it == expert_units.end() || colon == std::string::npos || dot == std::string::npos)
      return key;
    const std::int64_t off = ep_rank * it->second;
    const std::int64_t b = std::stoll(key.substr(at + 1, colon - at - 1)) + off;
    const std::int64_t e = std::stoll(key.substr(colon + 1, dot - colon - 1)) + off;
    return key.substr(0, at) + "@" + std::to_string(b) + ":" + std::to_string(e) + key.substr(dot);
  }
  // A whole stack: the longest expert "<group>/<param>" that the key continues with a '.'.
  std::string best;
  for (const auto& [name, units] : expert_units)
    if (name.size() > best.size() && key.size() > name.size() &&
        key.compare(0, name.size(), name) == 0 && key[name.size()] == '.')
      best = name;
  if (best.empty()) return key;
  const std::int64_t n = expert_units.at(best);
  return best + "@" + std::to_string(ep_rank * n) + ":" + std::to_string((ep_rank + 1) * n) +
         key.substr(best.size());
}

}  // namespace vpmoe::host::train
