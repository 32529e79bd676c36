#pragma once
// Base of every model part: parameters plus explicit forward/backward (hand-written). A module
// keeps the activations it needs for backward in its own per-micro-batch state.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vpmoe/device.h"
#include "vpmoe/parameter.h"

namespace vpmoe {

// What one forward/backward call needs to know about the batch.
struct Context {
  Device device;
  std::int64_t batch = 1;    // sequences in the micro-batch
  std::int64_t seq_len = 1;  // tokens per sequence (rows = batch * seq_len)
  bool training = true;
  // Gradient weight of losses a module adds itself (the MoE aux loss): the trainer's loss
  // scaling, e.g. 1 / micro-batches, so they average like the main loss.
  double aux_loss_scale = 1.0;
  // Absolute position of the call's first token: 0 in training; in decode (KV cache) the
  // tokens already cached, so positional encodings act at positions position .. + seq_len - 1.
  std::int64_t position = 0;
  // Activation recomputation ([train] recompute): this training forward re-runs, just before
  // its backward, one that ran in the step's forward pass on the same input. It must compute
  // the same bits and keep what the backward needs, but count nothing twice: no routing
  // statistics, no aux loss reported again, and layer 1 leaves the value residual's
  // accumulated gradient (ValueResidualState::dv1) alone.
  bool recomputing = false;
};

class Module {
 public:
  virtual ~Module() = default;
  // The spec name this module was built from, e.g. "attention.tpa".
  virtual std::string spec_name() const = 0;
  virtual std::vector<Parameter*> parameters() = 0;
  // Forward FLOPs per token at sequence length seq_len (training counts x3).
  virtual double flops_per_token(std::int64_t seq_len) const = 0;
  // What a checkpoint must carry besides the parameters (the router's expert bias), as CPU
  // tensors by name; load_state() gets back what state() gave.
  virtual std::map<std::string, Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, Tensor>& state) { (void)state; }
  // Releases what the last forward kept for its backward (activations, routing choices), so
  // activation recomputation saves memory: the host calls it after a forward whose backward
  // will re-run that forward first (Context::recomputing). The next call is then a forward.
  // A composite module passes it on to its parts. The default keeps everything: correct, but
  // the module's activations stay until the re-run replaces them.
  virtual void drop_saved() {}
  std::int64_t parameter_count();
  void zero_grad();
};

}  // namespace vpmoe
