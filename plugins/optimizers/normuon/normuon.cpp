#include "normuon.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "normuon_kernels.h"
#include "vpmoe/config.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::normuon {
namespace {

// The entry's matrices of t (a parameter's value or grad) as [count, m, n].
template <class E>
Tensor matrices(const Tensor& t, const E& e) {
  const std::int64_t m = t.size(-2), n = t.size(-1);
  return t.view({-1, m, n}).slice(e.slice, e.slice + e.count);
}

}  // namespace

void NorMuon::add_parameters(const std::vector<Parameter*>& params) {
  if (stepped_) throw Error("optimizer.normuon: parameters added after the first step");
  for (Parameter* p : params) {
    if (!p || !p->value.defined() || !p->grad.defined())
      throw Error("optimizer.normuon: a parameter without value or grad");
    if (optimizer_group(*p) != OptimizerGroup::matrix)
      throw Error("optimizer.normuon: " + p->name + " (role " + std::string(role_name(p->role)) +
                  ", " + p->value.str() +
                  ") is not a matrix; route it to optimizer.adamw (vpmoe::optimizer_group)");
    check_dtype(p->value, DType::f32, ("optimizer.normuon: " + p->name).c_str());
    const bool stack = p->value.ndim() == 3;
    const std::int64_t count = stack ? p->value.size(0) : 1;
    const std::int64_t m = p->value.size(-2), n = p->value.size(-1);
    for (const Bucket& b : buckets_)
      for (const Entry& e : b.entries)
        if (e.p == p || e.p->name == p->name)
          throw Error("optimizer.normuon: parameter " + p->name + " added twice");
    if (!o_.batch_same_shape) {
      for (std::int64_t s = 0; s < count; ++s)
        buckets_.push_back(Bucket{m, n, 1, p->value.device(), {Entry{p, s, 0, 1}}, {}, {}, {}});
      continue;
    }
    Bucket* bucket = nullptr;
    for (Bucket& b : buckets_)
      if (b.m == m && b.n == n && b.device == p->value.device()) bucket = &b;
    if (!bucket) {
      buckets_.push_back(Bucket{m, n, 0, p->value.device(), {}, {}, {}, {}});
      bucket = &buckets_.back();
    }
    bucket->entries.push_back(Entry{p, 0, bucket->count, count});
    bucket->count += count;
  }
  // The largest buckets first: while the device works through them, the host queues the
  // small buckets' short kernels, whose launches would otherwise leave it idle.
  std::stable_sort(buckets_.begin(), buckets_.end(), [](const Bucket& x, const Bucket& y) {
    return x.count * x.m * x.n > y.count * y.m * y.n;
  });
  // Zero state for the buckets as they now are (nothing has been stepped yet).
  for (Bucket& b : buckets_)
    if (!b.momentum.defined() || b.momentum.size(0) != b.count) {
      b.momentum = Tensor::zeros({b.count, b.m, b.n}, DType::f32, b.device);
      b.second_moment = Tensor::zeros({b.count, b.m}, DType::f32, b.device);
    }
}

void NorMuon::step(const OptimizerStep& s) {
  stepped_ = true;
  const float mu = float(o_.momentum), factor = float(1.0 + o_.safety_factor), eps = 1e-6f;
  for (Bucket& b : buckets_) {
    std::vector<Tensor> grads;
    for (const Entry& e : b.entries) grads.push_back(matrices(e.p->grad, e));
    // The Nesterov update U of every matrix of the bucket, as the Polar Express work copy X:
    // in bf16 on CUDA, where the Frobenius factor is folded into the first Polar Express step
    // (normuon_kernels.h, polynomial), so U is read from memory once; normalised in place in f32.
    const bool bf16 = b.device.is_cuda() && o_.bf16;
    const std::vector<std::int64_t> shape{b.count, b.m, b.n};
    Tensor x, scale;
    if (o_.fused_passes) {
      // U's sums of squares come out of the momentum pass.
      Tensor sumsq = sumsq_buffer(b.count, b.m * b.n, b.device);
      x = Tensor::empty(shape, bf16 ? DType::bf16 : DType::f32, b.device);
      nesterov_momentum(grads, b.momentum, x, mu, &sumsq, s.grad_scale);
      if (bf16)
        scale = frobenius_scales(sumsq, factor, eps);
      else
        frobenius_normalize(x, x, factor, eps, &sumsq);
    } else {
      Tensor u = Tensor::empty(shape, DType::f32, b.device);
      nesterov_momentum(grads, b.momentum, u, mu, nullptr, s.grad_scale);
      if (bf16) {
        scale = frobenius_scales(sumsq_of(u), factor, eps);
        x = ops::cast_to(u, DType::bf16);
      } else {
        frobenius_normalize(u, u, factor, eps);
        x = u;
      }
    }
    polar_express(x, o_.coeffs, scale.defined() ? &scale : nullptr);
    // The neuron-wise normalisation gives one factor per row, applied inside the update pass.
    const Tensor f = neuron_factors(x, b.second_moment, float(o_.beta2), float(o_.eps));
    if (keep_last_) b.orthogonal = x, b.factors = f;
    // Decoupled weight decay and the scaled update, refreshing the bf16 weights in the pass.
    const float shape_scale = float(std::sqrt(std::max(1.0, double(b.m) / double(b.n))));
    const float step = float(s.lr) * shape_scale;
    std::vector<UpdateTarget> targets;
    for (const Entry& e : b.entries) {
      const bool separate = e.p->compute.defined() && e.p->compute.data() != e.p->value.data();
      const double decay = e.p->weight_decay ? 1.0 - s.lr * s.weight_decay : 1.0;
      targets.push_back(UpdateTarget{
          matrices(e.p->value, e), separate ? matrices(e.p->compute, e) : Tensor(), float(decay)});
    }
    if (o_.fused_passes) {
      apply_scaled_update(targets, x, f, step);
    } else {
      Tensor u = Tensor::empty(shape, DType::f32, b.device);
      scale_rows(x, f, u);
      for (std::size_t i = 0; i < targets.size(); ++i) {
        const Entry& e = b.entries[i];
        apply_update(targets[i].w, u.slice(e.first, e.first + e.count), targets[i].decay, step,
                     targets[i].compute);
      }
    }
    // A bucket's work copies run to gigabytes: let the device finish them before the next
    // bucket's are allocated, so the pool reuses their memory instead of growing around
    // pending frees (a near-full device ran out of memory without this).
    if (b.device.is_cuda()) synchronize(b.device);
  }
}

const NorMuon::Entry* NorMuon::find(const Parameter& p, const Bucket** bucket) const {
  for (const Bucket& b : buckets_)
    for (const Entry& e : b.entries)
      if (e.p == &p) {
        *bucket = &b;
        return &e;
      }
  throw Error("optimizer.normuon: " + p.name + " is not one of its parameters");
}

Tensor NorMuon::last_update(const Parameter& p) const {
  const Bucket* b = nullptr;
  const Entry* e = find(p, &b);
  if (!b->orthogonal.defined())
    throw Error("optimizer.normuon: no step taken yet with keep_last_update(true)");
  if (e->count * b->m * b->n != p.value.numel())
    throw Error("optimizer.normuon: last_update needs batch_same_shape");
  Tensor s = Tensor::empty({e->count, b->m, b->n}, DType::f32, b->device);
  scale_rows(b->orthogonal.slice(e->first, e->first + e->count),
             b->factors.slice(e->first * b->m, (e->first + e->count) * b->m), s);
  return s.view(p.value.shape());
}

std::map<std::string, Tensor> NorMuon::state() const {
  std::map<std::string, Tensor> out;
  for (const Bucket& b : buckets_)
    for (const Entry& e : b.entries) {
      const bool stack = e.p->value.ndim() == 3;
      const std::string suffix = stack && !o_.batch_same_shape ? "." + std::to_string(e.slice) : "";
      const Tensor mom = b.momentum.slice(e.first, e.first + e.count);
      const Tensor sec = b.second_moment.slice(e.first, e.first + e.count);
      out[e.p->name + ".momentum" + suffix] =
          stack && o_.batch_same_shape ? mom.view(e.p->value.shape()) : mom.view({b.m, b.n});
      out[e.p->name + ".second_moment" + suffix] =
          stack && o_.batch_same_shape ? sec.view({e.count, b.m}) : sec.view({b.m});
    }
  return out;
}

void NorMuon::load_state(const std::map<std::string, Tensor>& state) {
  for (const auto& [key, dst] : this->state()) {
    const auto it = state.find(key);
    if (it == state.end()) throw Error("optimizer.normuon state: missing " + key);
    if (it->second.shape() != dst.shape() || it->second.dtype() != DType::f32)
      throw Error("optimizer.normuon state: " + key + " is " + it->second.str() + ", expected f32" +
                  shape_str(dst.shape()));
    Tensor d = dst;
    d.copy_from(it->second);
  }
}

std::unique_ptr<Optimizer> build(const BuildArgs& args) {
  if (!args.config) throw Error("optimizer.normuon needs the run configuration");
  const Config& c = *args.config;
  const OptimizerConfig& oc = c.optimizer;
  auto unit = [&](const char* key, double v) {
    if (!(v >= 0 && v < 1)) c.fail(key, "expected a value in [0, 1), found " + std::to_string(v));
  };
  unit("optimizer.normuon_momentum", oc.normuon_momentum);
  unit("optimizer.normuon_beta2", oc.normuon_beta2);
  if (!(oc.normuon_eps > 0))
    c.fail("optimizer.normuon_eps",
           "expected a value > 0, found " + std::to_string(oc.normuon_eps));
  if (!(oc.polar_express_safety_factor >= 0))
    c.fail("optimizer.polar_express_safety_factor",
           "expected a value >= 0, found " + std::to_string(oc.polar_express_safety_factor));
  NorMuonOptions o;
  o.momentum = oc.normuon_momentum;
  o.beta2 = oc.normuon_beta2;
  o.eps = oc.normuon_eps;
  o.safety_factor = oc.polar_express_safety_factor;
  if (!oc.polar_express_coeffs_path.empty()) {
    std::filesystem::path path(oc.polar_express_coeffs_path);
    if (path.is_relative() && !c.path.empty())
      path = std::filesystem::path(c.path).parent_path() / path;
    try {
      o.coeffs = load_coeffs(path.string());
    } catch (const Error& e) {
      c.fail("optimizer.polar_express_coeffs_path", e.what());
    }
  } else if (std::abs(oc.polar_express_safety_factor - 2e-2) > 1e-12) {
    c.fail("optimizer.polar_express_safety_factor",
           "the built-in Polar Express table is for 2e-2, found " +
               std::to_string(oc.polar_express_safety_factor) +
               "; give polar_express_coeffs_path with a matching table");
  }
  return std::make_unique<NorMuon>(std::move(o));
}

}  // namespace vpmoe::normuon
