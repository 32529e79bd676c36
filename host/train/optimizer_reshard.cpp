#include "train/optimizer_reshard.h"

#include <algorithm>

#include "vpmoe/error.h"

namespace vpmoe::host::train {
namespace {

// The view whose name is the longest prefix of key followed by '.', and the slot after it.
const ShardView* view_of(const std::string& key, const std::vector<ShardView>& views,
                         std::string* slot) {
  const ShardView* best = nullptr;
  for (const ShardView& v : views)
    if (key.size() > v.name.size() + 1 && key.compare(0, v.name.size(), v.name) == 0 &&
        key[v.name.size()] == '.' && (!best || v.name.size() > best->name.size()))
      best = &v;
  if (best) *slot = key.substr(best->name.size() + 1);
  return best;
}

Tensor flat(const Tensor& t) {
  return t.view({-1});
}

}  // namespace

std::vector<ShardView> views_in_state(const StateMap& state,
                                      const std::map<std::string, std::int64_t>& units) {
  std::map<std::string, ShardView> found;
  for (const auto& [key, t] : state) {
    const std::string param = state_key_param(key, units);
    if (param.empty())
      throw Error("optimizer state: " + key + " belongs to no parameter of the group");
    ShardView v;
    if (key[param.size()] == '@') {
      const std::size_t dot = key.find('.', param.size());
      const auto parsed = parse_shard_name(key.substr(0, dot));
      if (!parsed || parsed->param != param || dot == std::string::npos)
        throw Error("optimizer state: " + key + " is not <parameter>@<begin>:<end>.<slot>");
      v = *parsed;
    } else {
      v = ShardView{param, param, 0, units.at(param)};
    }
    if (v.end > units.at(param))
      throw Error("optimizer state: " + key + " reaches past the " +
                  std::to_string(units.at(param)) + " units of " + param);
    found.emplace(v.name, v);
  }
  std::vector<ShardView> out;
  for (auto& [name, v] : found) out.push_back(v);
  return out;
}

StateMap reshard_state(const StateMap& old_state, const std::vector<ShardView>& old_views,
                       const StateMap& like, const std::vector<ShardView>& new_views) {
  StateMap out;
  for (const auto& [key, want] : like) {
    std::string slot;
    const ShardView* nv = view_of(key, new_views, &slot);
    if (!nv) throw Error("optimizer state: " + key + " names none of this rank's pieces");
    const std::int64_t len = nv->end - nv->begin;
    // The old pieces of the same parameter that overlap [begin, end), in order, with this slot.
    struct Source {
      const ShardView* view;
      const Tensor* t;
    };
    std::vector<Source> sources;
    for (const ShardView& ov : old_views) {
      if (ov.param != nv->param || ov.end <= nv->begin || ov.begin >= nv->end) continue;
      const auto it = old_state.find(ov.name + "." + slot);
      if (it == old_state.end())
        throw Error("optimizer state: missing " + ov.name + "." + slot + " (for " + key + ")");
      sources.push_back(Source{&ov, &it->second});
    }
    std::sort(sources.begin(), sources.end(),
              [](const Source& a, const Source& b) { return a.view->begin < b.view->begin; });
    if (sources.empty()) throw Error("optimizer state: nothing saved covers " + key);
    for (const Source& s : sources)
      if (s.t->dtype() != want.dtype())
        throw Error("optimizer state: " + s.view->name + "." + slot + " is " + s.t->str() +
                    ", expected " + std::string(dtype_name(want.dtype())));
    // Per-unit slots: the new one holds len units of `per` values, every old one its own.
    const std::int64_t per = len > 0 && want.numel() % len == 0 ? want.numel() / len : -1;
    bool by_units = per >= 0;
    for (const Source& s : sources)
      by_units = by_units && s.t->numel() == (s.view->end - s.view->begin) * per;
    Tensor result = Tensor::empty(want.shape(), want.dtype());
    if (by_units) {
      std::int64_t covered = nv->begin;
      for (const Source& s : sources) {
        const std::int64_t lo = std::max(nv->begin, s.view->begin);
        const std::int64_t hi = std::min(nv->end, s.view->end);
        if (lo != covered) break;
        Tensor dst = flat(result).slice((lo - nv->begin) * per, (hi - nv->begin) * per);
        dst.copy_from(flat(*s.t).slice((lo - s.view->begin) * per, (hi - s.view->begin) * per));
        covered = hi;
      }
      if (covered != nv->end)
        throw Error("optimizer state: the saved pieces of " + nv->param + " do not cover " + key);
    } else {
      const Tensor& t = *sources.front().t;
      if (t.numel() != want.numel())
        throw Error("optimizer state: " + sources.front().view->name + "." + slot + " is " +
                    t.str() + ", expected " + std::string(dtype_name(want.dtype())) +
                    shape_str(want.shape()));
      result.copy_from(t.view(want.shape()));
    }
    out[key] = result;
  }
  return out;
}

std::string state_key_to_global(const std::string& key,
                                const std::map<std::string, std::int64_t>& expert_units,
                                int ep_rank, int ep) {
  if (ep == 1) return key;
  const std::string param = state_key_param(key, expert_units);
  if (param.empty()) return key;
  const std::int64_t n = expert_units.at(param), off = ep_rank * n;
  if (key[param.size()] == '.')  // the whole stack
    return shard_name(param, off, off + n) + key.substr(param.size());
  const std::size_t dot = key.find('.', param.size());
  const auto v = parse_shard_name(std::string_view(key).substr(0, dot));
  if (!v || dot == std::string::npos)
    throw Error("optimizer state: " + key + " is not <parameter>@<begin>:<end>.<slot>");
  return shard_name(param, v->begin + off, v->end + off) + key.substr(dot);
}

}  // namespace vpmoe::host::train
