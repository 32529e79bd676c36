#pragma once
// How the distributed optimizer (ZeRO-1) splits one optimizer group's parameters over the ranks
// of a process group. Pure functions of the shapes and the rank count, so a checkpoint can
// redo the plan of any layout, and tests can check that every element or matrix is covered
// exactly once.
//   By elements (AdamW): the parameters' elements concatenated in order and cut into `ranks`
//     contiguous ranges of ceil(total / ranks) elements (the last shorter, ranks past the end
//     empty), as Megatron's distributed optimizer does.
//   By whole matrices (NorMuon): a 2-D parameter is one matrix, an expert stack [E, m, n] E of
//     them; the matrices in parameter order are cut into contiguous runs of about equal work
//     (m n min(m, n): Polar Express's GEMMs), each matrix going to the rank whose even share
//     of the total work holds the middle of its own work.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpmoe/optimizer.h"
#include "vpmoe/parameter.h"

namespace vpmoe::host::train {

// The unit an optimizer is sharded by is its own (Optimizer::shard_unit).
using vpmoe::ShardUnit;

// p's length in units: its element count, or its matrices (E of a stack, else 1: a matrix, or a
// vector kept whole).
std::int64_t shard_units(const Parameter& p, ShardUnit u);
// Elements per unit: 1, or m n (a vector's length).
std::int64_t unit_elements(const Parameter& p, ShardUnit u);

// One rank's piece of parameter `param` (an index into the list planned): units [begin, end).
struct ShardPiece {
  std::size_t param = 0;
  std::int64_t begin = 0, end = 0;
  bool operator==(const ShardPiece&) const = default;
};
// Per rank, its pieces in parameter order.
using ShardPlan = std::vector<std::vector<ShardPiece>>;

ShardPlan plan_elements(const std::vector<std::int64_t>& numels, int ranks);
// units[i]: the matrices of parameter i; work[i]: the work of one of them.
ShardPlan plan_matrices(const std::vector<std::int64_t>& units,
                        const std::vector<std::int64_t>& work, int ranks);
// The plan of params (all of one group and one process group) by unit.
ShardPlan plan_shards(const std::vector<Parameter*>& params, ShardUnit u, int ranks);

// A piece's name, "<param>@<begin>:<end>" (units), which names its optimizer state so that a
// checkpoint can be re-sharded for another layout.
std::string shard_name(std::string_view param, std::int64_t begin, std::int64_t end);

// The parameter (a key of names) that an optimizer state key "<param>.<slot>" or
// "<param>@<begin>:<end>.<slot>" belongs to: the longest prefix of key ending before a '.' or
// '@' that names has; empty for none.
template <class V>
std::string state_key_param(std::string_view key, const std::map<std::string, V>& names) {
  for (std::size_t at = key.size(); at-- > 1;)
    if ((key[at] == '.' || key[at] == '@') && names.count(std::string(key.substr(0, at))))
      return std::string(key.substr(0, at));
  return {};
}

// A piece of a parameter as optimizer state knows it: name is shard_name(...), or the
// parameter's own name when the state holds the whole parameter (a plain optimizer's).
struct ShardView {
  std::string name, param;
  std::int64_t begin = 0, end = 0;  // units
};
// name = "<param>@<begin>:<end>" -> its view; anything else -> nullopt.
std::optional<ShardView> parse_shard_name(std::string_view name);

// A parameter-shaped view of p's units [begin, end): value, grad and compute (sharing
// storage). By elements a 1-D slice of the flattened tensors; by matrices p itself (a 2-D
// matrix, [0, 1)) or the stack's rows [begin, end) ([end - begin, m, n]). Named shard_name().
Parameter shard_parameter(const Parameter& p, ShardUnit u, std::int64_t begin, std::int64_t end);

}  // namespace vpmoe::host::train
