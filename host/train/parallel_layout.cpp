#include "train/parallel_layout.h"

#include <string>

namespace vpmoe::host::train {

ParallelLayout parallel_layout(const Config& c, int world, int rank) {
  const int tp = c.parallel.tensor_model_parallel_size, ep = c.parallel.expert_model_parallel_size;
  if (world % (tp * ep) != 0)
    c.fail("parallel.expert_model_parallel_size",
           "this launch has " + std::to_string(world) + " process(es), which expert parallel " +
               std::to_string(ep) + " x tensor parallel " + std::to_string(tp) +
               " cannot fill: expected a world size that is a multiple of " +
               std::to_string(tp * ep));
  return ParallelLayout::make(world, rank, tp, ep);
}

}  // namespace vpmoe::host::train
