// A test-only third-party optimizer, optimizer.sgd_test: w -= lr * (grad_scale * g) with no
// state but a step counter, built as its own plugin file (not in the plugin folder) so a test
// can load it in either role.
#include "vpmoe/ops.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/plugin.h"

namespace {

class SgdTest final : public vpmoe::Optimizer {
 public:
  std::string spec_name() const override { return "optimizer.sgd_test"; }
  void add_parameters(const std::vector<vpmoe::Parameter*>& ps) override {
    params_.insert(params_.end(), ps.begin(), ps.end());
  }
  void step(const vpmoe::OptimizerStep& s) override {
    for (vpmoe::Parameter* p : params_) {
      vpmoe::ops::axpy(float(-s.lr) * s.grad_scale, p->grad, p->value);
      p->sync_compute();
    }
    ++steps_;
  }
  std::map<std::string, vpmoe::Tensor> state() const override {
    return {{"steps", vpmoe::Tensor::from_floats({float(steps_)}, {1}, vpmoe::DType::f32)}};
  }
  void load_state(const std::map<std::string, vpmoe::Tensor>& st) override {
    steps_ = st.count("steps") ? int(st.at("steps").item()) : 0;
  }

 private:
  std::vector<vpmoe::Parameter*> params_;
  int steps_ = 0;
};

void register_sgd_test(vpmoe::Registry& reg) {
  reg.add<vpmoe::Optimizer>("optimizer.sgd_test",
                            [](const vpmoe::BuildArgs&) { return std::make_unique<SgdTest>(); });
}

}  // namespace

VPMOE_PLUGIN("sgd_test", "0.1.0", register_sgd_test)
