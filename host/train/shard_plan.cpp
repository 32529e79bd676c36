#include "train/shard_plan.h"

#include <algorithm>
#include <charconv>

#include "vpmoe/error.h"

namespace vpmoe::host::train {
namespace {

void need_ranks(int ranks, const char* what) {
  if (ranks < 1) throw Error(std::string(what) + ": ranks must be >= 1");
}

// Appends units [b, e) of parameter i to a rank's pieces, merging with its last piece.
void add_piece(std::vector<ShardPiece>& pieces, std::size_t i, std::int64_t b, std::int64_t e) {
  if (b >= e) return;
  if (!pieces.empty() && pieces.back().param == i && pieces.back().end == b)
    pieces.back().end = e;
  else
    pieces.push_back(ShardPiece{i, b, e});
}

}  // namespace

std::int64_t shard_units(const Parameter& p, ShardUnit u) {
  if (u == ShardUnit::elements) return p.value.numel();
  if (p.value.ndim() <= 2) return 1;
  if (p.value.ndim() == 3) return p.value.size(0);
  throw Error("distributed optimizer: " + p.name + " (" + p.value.str() +
              ") is not a vector, a matrix or a stack of matrices");
}

std::int64_t unit_elements(const Parameter& p, ShardUnit u) {
  if (u == ShardUnit::elements) return 1;
  shard_units(p, u);  // checks the shape
  return p.value.ndim() <= 1 ? p.value.numel() : p.value.size(-2) * p.value.size(-1);
}

ShardPlan plan_elements(const std::vector<std::int64_t>& numels, int ranks) {
  need_ranks(ranks, "plan_elements");
  std::int64_t total = 0;
  for (std::int64_t n : numels) total += n;
  const std::int64_t per = (total + ranks - 1) / ranks;
  ShardPlan plan(static_cast<std::size_t>(ranks));
  std::int64_t at = 0;  // the parameter's first element in the concatenation
  for (std::size_t i = 0; i < numels.size(); ++i) {
    for (int r = 0; r < ranks && per > 0; ++r) {
      const std::int64_t lo = std::max(at, r * per), hi = std::min(at + numels[i], (r + 1) * per);
      add_piece(plan[std::size_t(r)], i, lo - at, hi - at);
    }
    at += numels[i];
  }
  return plan;
}

ShardPlan plan_matrices(const std::vector<std::int64_t>& units,
                        const std::vector<std::int64_t>& work, int ranks) {
  need_ranks(ranks, "plan_matrices");
  if (units.size() != work.size()) throw Error("plan_matrices: units and work differ in length");
  __int128 total = 0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (units[i] < 0 || work[i] < 0) throw Error("plan_matrices: negative units or work");
    total += __int128(units[i]) * work[i];
    count += units[i];
  }
  ShardPlan plan(static_cast<std::size_t>(ranks));
  // The rank of a matrix whose work spans [before, before + w): where its middle falls among
  // `ranks` even shares of the total (by count when there is no work at all). Non-decreasing
  // along the matrices, so every rank's matrices are one contiguous run.
  __int128 before = 0;
  std::int64_t index = 0;
  for (std::size_t i = 0; i < units.size(); ++i)
    for (std::int64_t j = 0; j < units[i]; ++j, ++index) {
      const __int128 w = work[i];
      const __int128 r = total > 0 ? (2 * before + w) * ranks / (2 * total)
                                   : (2 * __int128(index) + 1) * ranks / (2 * __int128(count));
      add_piece(plan[std::size_t(std::min<__int128>(r, ranks - 1))], i, j, j + 1);
      before += w;
    }
  return plan;
}

ShardPlan plan_shards(const std::vector<Parameter*>& params, ShardUnit u, int ranks) {
  std::vector<std::int64_t> units, work;
  for (const Parameter* p : params) {
    units.push_back(shard_units(*p, u));
    // A matrix's work is Polar Express's m n min(m, n); a vector's (kept whole) its length.
    const bool matrix = u == ShardUnit::matrices && p->value.ndim() >= 2;
    const std::int64_t m = matrix ? p->value.size(-2) : 1;
    const std::int64_t n =
        matrix ? p->value.size(-1) : (u == ShardUnit::matrices ? p->value.numel() : 1);
    work.push_back(m * n * std::min(m, n));
  }
  return u == ShardUnit::elements ? plan_elements(units, ranks) : plan_matrices(units, work, ranks);
}

std::string shard_name(std::string_view param, std::int64_t begin, std::int64_t end) {
  return std::string(param) + "@" + std::to_string(begin) + ":" + std::to_string(end);
}

std::optional<ShardView> parse_shard_name(std::string_view name) {
  const std::size_t at = name.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  const std::size_t colon = name.find(':', at);
  if (colon == std::string_view::npos) return std::nullopt;
  ShardView v;
  auto number = [](std::string_view s, std::int64_t& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 0;
  };
  if (!number(name.substr(at + 1, colon - at - 1), v.begin) ||
      !number(name.substr(colon + 1), v.end) || v.end < v.begin)
    return std::nullopt;
  v.name = std::string(name);
  v.param = std::string(name.substr(0, at));
  return v;
}

Parameter shard_parameter(const Parameter& p, ShardUnit u, std::int64_t begin, std::int64_t end) {
  const std::int64_t units = shard_units(p, u);
  if (begin < 0 || end > units || begin >= end)
    throw Error("distributed optimizer: units [" + std::to_string(begin) + ", " +
                std::to_string(end) + ") of " + p.name + " (" + std::to_string(units) + ")");
  const bool shared = p.compute.defined() && p.compute.data() == p.value.data();
  auto piece = [&](const Tensor& t) -> Tensor {
    if (!t.defined()) return t;
    if (u == ShardUnit::elements) return t.view({-1}).slice(begin, end);
    return t.ndim() <= 2 ? t : t.slice(begin, end);  // a matrix or a vector is one unit
  };
  Parameter v;
  v.name = shard_name(p.name, begin, end);
  v.value = piece(p.value);
  v.grad = piece(p.grad);
  v.compute = shared ? v.value : piece(p.compute);
  v.role = p.role;
  v.sharding = p.sharding;
  v.weight_decay = p.weight_decay;
  return v;
}

}  // namespace vpmoe::host::train
