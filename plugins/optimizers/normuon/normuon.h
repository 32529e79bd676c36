#pragma once
// optimizer.normuon (spec/optimizer.md §2): momentum with Nesterov, Polar Express, neuron-wise
// second-moment normalisation, the shape scale and decoupled weight decay, for 2-D matrices
// (an expert stack [E, m, n] counts as E matrices). Matrices of one shape on one device form a
// bucket whose state is one contiguous [count, m, n] block, so each step runs every pass and
// every Polar Express GEMM once per bucket (strided-batched), not once per matrix.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "polar_express.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/registry.h"

namespace vpmoe::normuon {

struct NorMuonOptions {
  double momentum = 0.95, beta2 = 0.95, eps = 1e-10, safety_factor = 2e-2;
  Coeffs coeffs = default_coeffs();
  bool bf16 = true;  // Polar Express GEMMs in bf16 on CUDA (as the reference); f32 on the CPU
  // false: every matrix its own bucket (one matrix at a time; the benchmark's baseline, whose
  // state keys name each expert: "<name>.momentum.<e>").
  bool batch_same_shape = true;
  // false: the separate passes (the Frobenius sums read u again; the normalised update is
  // written in f32 and read back by the update): the benchmark's baseline, same bits.
  bool fused_passes = true;
};

class NorMuon final : public Optimizer {
 public:
  explicit NorMuon(NorMuonOptions o) : o_(std::move(o)) {}
  std::string spec_name() const override { return "optimizer.normuon"; }
  // Takes the matrix group of optimizer_group(); anything else is refused by name.
  void add_parameters(const std::vector<Parameter*>& params) override;
  void step(const OptimizerStep& s) override;
  // "<name>.momentum" (the parameter's shape) and "<name>.second_moment" ([rows], or
  // [E, rows] for an expert stack), f32 on the parameter's device.
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // The orthogonalised, normalised update S of each matrix from the last step (tests). Off by
  // default: it keeps a copy of every matrix in the work dtype (11 GB for the locked model).
  void keep_last_update(bool keep) { keep_last_ = keep; }
  Tensor last_update(const Parameter& p) const;

 private:
  struct Entry {
    Parameter* p;
    std::int64_t slice;         // its first matrix within the parameter (an expert stack)
    std::int64_t first, count;  // where those matrices sit in the bucket
  };
  struct Bucket {
    std::int64_t m = 0, n = 0, count = 0;
    Device device;
    std::vector<Entry> entries;
    Tensor momentum, second_moment;  // [count, m, n], [count, m]
    // The last step's orthogonalised update (the work dtype) and its row factors [count m]:
    // the update S is their product (last_update).
    Tensor orthogonal, factors;
  };
  const Entry* find(const Parameter& p, const Bucket** bucket) const;

  NorMuonOptions o_;
  std::vector<Bucket> buckets_;
  bool stepped_ = false;
  bool keep_last_ = false;
};

std::unique_ptr<Optimizer> build(const BuildArgs& args);

}  // namespace vpmoe::normuon
