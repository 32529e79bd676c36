#pragma once
// Re-sharding optimizer state for another data-parallel layout (checkpoints: users change GPU
// counts between runs). The distributed optimizer names each piece's state after the piece,
// "<param>@<begin>:<end>.<slot>" (shard_plan.h); a plain optimizer's state is
// "<param>.<slot>", the whole parameter. Given the state of every old piece (the maps of all
// old ranks merged; their keys never collide) this assembles the state of this rank's pieces.
//
// A slot whose size is the piece's length times a per-unit size (AdamW's exp_avg by elements,
// NorMuon's momentum [k, m, n] and second moment [k, m] by matrices) is cut from the old
// pieces overlapping the new one and concatenated along its units; any other slot (AdamW's
// step [1]) is taken as it is from the first old piece that overlaps.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/shard_plan.h"
#include "vpmoe/tensor.h"

namespace vpmoe::host::train {

using StateMap = std::map<std::string, Tensor>;

// The views whose state `state` holds, given the group's parameters' lengths in units
// (name -> shard_units): "<p>@<b>:<e>.<slot>" is the piece [b, e) of p, "<p>.<slot>" the whole
// of p. A key of no known parameter is an error naming it.
std::vector<ShardView> views_in_state(const StateMap& state,
                                      const std::map<std::string, std::int64_t>& units);

// The state of new_views, shaped as `like` (the new optimizer's own state(): its keys, shapes
// and dtypes), from old_state written for old_views. Every key of like must be covered, else
// an error names it. The result is on the CPU (load_state copies it to the device).
StateMap reshard_state(const StateMap& old_state, const std::vector<ShardView>& old_views,
                       const StateMap& like, const std::vector<ShardView>& new_views);

// Expert stacks in the whole model's coordinates: a state key names units of this rank's stack
// ("<param>.<slot>", the whole of it, or a piece "<param>@<b>:<e>.<slot>"); ep rank k's stack
// starts at k x its units. expert_units: the expert stacks' names as the keys spell them
// ("<group>/<param>") -> their units on this rank. Other keys, and ep 1, are left as they are.
std::string state_key_to_global(const std::string& key,
                                const std::map<std::string, std::int64_t>& expert_units,
                                int ep_rank, int ep);

}  // namespace vpmoe::host::train
