#pragma once
// The dispatch permutation on the device: the N k (token, slot) pairs stably sorted by expert, so
// that the host never reads the routing back (a read is a wait for the whole queue).
#include "vpmoe/tensor.h"

namespace vpmoe::moe {

struct SlotOrder {
  Tensor token_of_row;  // [M] i32
  Tensor slot_of_row;   // [M] i32: the flat (token * k + slot) each row came from
  Tensor row_of_slot;   // [M] i32
};

// experts [N, k] i32 on a CUDA device, ids in [0, experts). CUDA builds only.
SlotOrder sort_slots_by_expert(const Tensor& experts, int num_experts);

}  // namespace vpmoe::moe
