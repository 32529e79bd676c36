#include "adamw.h"

#include <cmath>

#include "adamw_update.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::adamw {

void AdamW::add_parameters(const std::vector<Parameter*>& params) {
  for (Parameter* p : params) {
    if (!p || !p->value.defined() || !p->grad.defined())
      throw Error("optimizer.adamw: a parameter without value or grad");
    check_dtype(p->value, DType::f32, ("optimizer.adamw: " + p->name).c_str());
    for (const Slot& s : slots_)
      if (s.p == p || s.p->name == p->name)
        throw Error("optimizer.adamw: parameter " + p->name + " added twice");
    slots_.push_back(Slot{p, Tensor::zeros(p->value.shape(), DType::f32, p->value.device()),
                          Tensor::zeros(p->value.shape(), DType::f32, p->value.device()), 0});
  }
}

void AdamW::step(const OptimizerStep& s) {
  for (Slot& slot : slots_) {
    ++slot.t;
    UpdateArgs a;
    a.lr = float(s.lr);
    a.wd = slot.p->weight_decay ? float(s.weight_decay) : 0.f;
    a.beta1 = float(o_.beta1), a.beta2 = float(o_.beta2), a.eps = float(o_.eps);
    a.bc1 = float(1.0 - std::pow(o_.beta1, double(slot.t)));
    a.bc2 = float(1.0 - std::pow(o_.beta2, double(slot.t)));
    a.grad_scale = s.grad_scale;
    Parameter& p = *slot.p;
    if (p.value.device().is_cuda()) {
      const bool separate = p.compute.defined() && p.compute.data() != p.value.data();
      update_cuda(p.value, p.grad, slot.m, slot.v, a, separate ? &p.compute : nullptr);
    } else {
      update_cpu(p.value, p.grad, slot.m, slot.v, a);
      p.sync_compute();
    }
  }
}

std::map<std::string, Tensor> AdamW::state() const {
  std::map<std::string, Tensor> out;
  for (const Slot& s : slots_) {
    out[s.p->name + ".exp_avg"] = s.m;
    out[s.p->name + ".exp_avg_sq"] = s.v;
    Tensor t = Tensor::empty({1}, DType::i64);
    *t.data_as<std::int64_t>() = s.t;
    out[s.p->name + ".step"] = t;
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, Tensor>& state) {
  auto need = [&](const std::string& key, const Shape& shape, DType dt) -> const Tensor& {
    const auto it = state.find(key);
    if (it == state.end()) throw Error("optimizer.adamw state: missing " + key);
    if (it->second.shape() != shape || it->second.dtype() != dt)
      throw Error("optimizer.adamw state: " + key + " is " + it->second.str() + ", expected " +
                  std::string(dtype_name(dt)) + shape_str(shape));
    return it->second;
  };
  for (Slot& s : slots_) {
    s.m.copy_from(need(s.p->name + ".exp_avg", s.p->value.shape(), DType::f32));
    s.v.copy_from(need(s.p->name + ".exp_avg_sq", s.p->value.shape(), DType::f32));
    const Tensor t = need(s.p->name + ".step", {1}, DType::i64).to(Device::cpu());
    s.t = *t.data_as<const std::int64_t>();
  }
}

std::unique_ptr<Optimizer> build(const BuildArgs& args) {
  if (!args.config) throw Error("optimizer.adamw needs the run configuration");
  const OptimizerConfig& oc = args.config->optimizer;
  auto in_unit = [&](const char* key, double v) {
    if (!(v >= 0 && v < 1))
      args.config->fail(key, "expected a value in [0, 1), found " + std::to_string(v));
  };
  in_unit("optimizer.adam_beta1", oc.adam_beta1);
  in_unit("optimizer.adam_beta2", oc.adam_beta2);
  if (!(oc.adam_eps > 0))
    args.config->fail("optimizer.adam_eps",
                      "expected a value > 0, found " + std::to_string(oc.adam_eps));
  return std::make_unique<AdamW>(AdamWOptions{oc.adam_beta1, oc.adam_beta2, oc.adam_eps});
}

}  // namespace vpmoe::adamw
