#pragma once
// Which checkpoint file holds what under expert parallelism, and how a rank of another layout
// takes its rows back (issue 15, item 7). Expert parameters (Sharding::expert) are stacks whose
// dim 0 is the expert: ep rank k holds experts [k E/ep, (k+1) E/ep). With ep > 1 they are
// written by the first replica of each ep rank into model_ep<k>.safetensors; everything else
// goes to model.safetensors, written by rank 0. A checkpoint records the global shapes, so a
// run with another ep size re-shards on load: it reads the files whose rows overlap its own.
// Optimizer state is keyed in the whole model's coordinates (OptimizerSet::state).
#include <functional>
#include <map>
#include <string>

#include "vpmoe/parameter.h"

namespace vpmoe::host::train {

using TensorMap = std::map<std::string, Tensor>;

// The parameter's shape in the whole model: an expert stack's dim 0 times ep.
Shape global_shape(const Parameter& p, int ep);

std::string experts_file(const std::string& stem, int ep_rank);  // "<stem>_ep003.safetensors"

// Rows [first, first + rows) of a tensor split by dim 0 into `saved_ep` equal pieces, the
// piece of rank k read by piece(k) (each file read once). Refuses pieces of the wrong shape.
Tensor gather_rows(std::int64_t first, std::int64_t rows, int saved_ep,
                   const std::function<Tensor(int)>& piece, const std::string& what);

}  // namespace vpmoe::host::train
