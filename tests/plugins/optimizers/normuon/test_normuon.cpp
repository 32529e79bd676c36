// optimizer.normuon: three steps of several matrices (square, tall, wide, an expert stack, the
// router weight; weight decay on and off) against the double reference of the spec; the first
// step's update has equal row mean squares and O's Frobenius norm; state save / load gives
// bit-identical next steps; non-matrices, a bad coefficient file and an unmatched safety factor
// are refused by name; the plugin; the bucket passes against the per-parameter ones; the
// Frobenius factor folded into the first Polar Express step; CUDA against the CPU (each pass,
// the bucket passes over more parameters than one launch takes, the whole step).
#include <fstream>

#include "core/ops_cpu/cpu_test_util.h"
#include "core/ops_cuda/cuda_test_util.h"
#include "normuon.h"
#include "normuon_kernels.h"
#include "normuon_reference.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

Config config(const std::string& extra = "") {
  return parse_config(
      "[model]\nnum_layers = 2\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[optimizer]\n" +
          extra,
      ::testing::TempDir() + "run.toml");
}

std::unique_ptr<Optimizer> make(const Config& c) {
  BuildArgs a;
  a.config = &c;
  return normuon::build(a);
}

// Matrices of every kind the optimizer takes; two share a shape (one bucket).
struct Model {
  std::vector<Parameter> ps;
  Model(std::mt19937& g, Device d = Device::cpu()) {
    ps.push_back(Parameter::make("sq", {6, 6}, ParamRole::matrix, d));
    ps.push_back(Parameter::make("tall", {8, 3}, ParamRole::matrix, d));
    ps.push_back(Parameter::make("wide", {3, 8}, ParamRole::matrix, d));
    ps.push_back(Parameter::make("experts", {2, 3, 8}, ParamRole::expert_matrix, d));
    ps.push_back(Parameter::make("router", {5, 4}, ParamRole::router, d));
    ps[2].weight_decay = false;
    for (Parameter& p : ps) p.value.copy_from(rand_tensor(g, p.value.shape()));
  }
  std::vector<Parameter*> list() {
    std::vector<Parameter*> l;
    for (Parameter& p : ps) l.push_back(&p);
    return l;
  }
};

TEST(OptimizerNorMuon, ThreeStepsMatchTheDoubleReference) {
  const Config c = config();
  std::mt19937 g(1);
  Model model(g);
  auto opt = make(c);
  opt->add_parameters(model.list());
  // The reference: one state per matrix (an expert stack is two matrices).
  struct RefMatrix {
    Parameter* p;
    std::int64_t slice, m, n;
    ref::Mat w;
    ref::MatrixState st;
  };
  std::vector<RefMatrix> refs;
  for (Parameter& p : model.ps) {
    const std::int64_t count = p.value.ndim() == 3 ? p.value.size(0) : 1;
    const std::int64_t m = p.value.size(-2), n = p.value.size(-1);
    const Vec all = to_double(p.value);
    for (std::int64_t s = 0; s < count; ++s)
      refs.push_back(
          {&p, s, m, n, Vec(all.begin() + s * m * n, all.begin() + (s + 1) * m * n), {}});
  }
  const double lr = 0.02, wd = 0.1;
  for (int step = 0; step < 3; ++step) {
    for (Parameter& p : model.ps) p.grad.copy_from(rand_tensor(g, p.value.shape()));
    for (RefMatrix& r : refs) {
      const Vec gall = to_double(r.p->grad);
      const Vec gs(gall.begin() + r.slice * r.m * r.n, gall.begin() + (r.slice + 1) * r.m * r.n);
      ref::normuon_step(r.w, gs, r.st, int(r.m), int(r.n), lr, r.p->weight_decay ? wd : 0.0,
                        normuon::default_coeffs());
    }
    opt->step(OptimizerStep{step, lr, wd});
  }
  for (Parameter& p : model.ps) {
    Vec want;
    for (const RefMatrix& r : refs)
      if (r.p == &p) want.insert(want.end(), r.w.begin(), r.w.end());
    expect_close(p.value, want, 2e-5, p.name);
  }
}

TEST(OptimizerNorMuon, FirstUpdateHasEqualRowsAndTheFrobeniusNormOfO) {
  const Config c = config();
  std::mt19937 g(2);
  Parameter w = Parameter::make("w", {12, 20}, ParamRole::matrix, Device::cpu());
  w.grad.copy_from(rand_tensor(g, {12, 20}));
  auto opt = make(c);
  opt->add_parameters({&w});
  static_cast<normuon::NorMuon&>(*opt).keep_last_update(true);
  const Tensor grad = w.grad.clone();
  opt->step(OptimizerStep{0, 0.01, 0.0});
  const std::vector<float> s = static_cast<normuon::NorMuon&>(*opt).last_update(w).to_floats();
  std::vector<double> rows(12, 0.0);
  double ns = 0;
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 20; ++j)
      rows[std::size_t(i)] += double(s[std::size_t(i * 20 + j)]) * s[std::size_t(i * 20 + j)] / 20;
  for (double r : rows) EXPECT_NEAR(r, rows[0], 1e-5 * rows[0]);
  for (double r : rows) ns += r * 20;
  // O: the Polar Express of the first Nesterov update (1 - mu) g + mu (1 - mu) g.
  Tensor u = grad.view({1, 12, 20}).clone();
  ops::scale(u, 0.05f + 0.95f * 0.05f, u);
  normuon::frobenius_normalize(u, u, 1.02f, 1e-6f);
  normuon::polar_express(u, normuon::default_coeffs());
  double no = 0;
  for (float x : u.to_floats()) no += double(x) * x;
  EXPECT_NEAR(std::sqrt(ns), std::sqrt(no), 1e-5 * std::sqrt(no));
}

TEST(OptimizerNorMuon, SavedStateGivesBitIdenticalNextSteps) {
  const Config c = config();
  std::mt19937 ga(3), gb(3);
  Model a(ga), b(gb);
  auto oa = make(c), ob = make(c);
  oa->add_parameters(a.list());
  ob->add_parameters(b.list());
  std::mt19937 g(4);
  for (Parameter& p : a.ps) p.grad.copy_from(rand_tensor(g, p.value.shape()));
  oa->step(OptimizerStep{0, 0.02, 0.1});
  for (std::size_t i = 0; i < a.ps.size(); ++i) b.ps[i].value.copy_from(a.ps[i].value);
  std::map<std::string, Tensor> saved;
  for (const auto& [k, t] : oa->state()) saved[k] = t.clone();  // as a checkpoint holds it
  ob->load_state(saved);
  for (int step = 1; step < 3; ++step) {
    for (std::size_t i = 0; i < a.ps.size(); ++i) {
      const Tensor gr = rand_tensor(g, a.ps[i].value.shape());
      a.ps[i].grad.copy_from(gr);
      b.ps[i].grad.copy_from(gr);
    }
    oa->step(OptimizerStep{step, 0.02, 0.1});
    ob->step(OptimizerStep{step, 0.02, 0.1});
  }
  for (std::size_t i = 0; i < a.ps.size(); ++i)
    EXPECT_EQ(a.ps[i].value.to_floats(), b.ps[i].value.to_floats()) << a.ps[i].name;
  saved.erase("router.second_moment");
  EXPECT_THROW(ob->load_state(saved), Error);
}

TEST(OptimizerNorMuon, RefusesWhatIsNotAMatrixAndBadSettings) {
  const Config c = config();
  auto opt = make(c);
  Parameter bias = Parameter::make("layers.1.b", {4}, ParamRole::bias, Device::cpu());
  Parameter emb = Parameter::make("embedding", {10, 4}, ParamRole::embedding, Device::cpu());
  for (Parameter* p : {&bias, &emb}) {
    try {
      opt->add_parameters({p});
      ADD_FAILURE() << p->name << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p->name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("optimizer.adamw"), std::string::npos) << e.what();
    }
  }
  auto msg = [](const std::string& extra) {
    try {
      make(config(extra));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(
      msg("polar_express_safety_factor = 0.05\n").find("[optimizer].polar_express_safety_factor"),
      std::string::npos);
  std::ofstream(::testing::TempDir() + "bad_coeffs.json") << "[[1, 2, 3], [4, 5]]";
  const std::string bad = msg("polar_express_coeffs_path = \"bad_coeffs.json\"\n");
  EXPECT_NE(bad.find("[optimizer].polar_express_coeffs_path"), std::string::npos) << bad;
  EXPECT_NE(bad.find("entry 1"), std::string::npos) << bad;
  // With a (relative) file, another safety factor is accepted and the file's table is used.
  std::ofstream(::testing::TempDir() + "good_coeffs.json") << "[[2, -1.5, 0.5]]";
  EXPECT_EQ(
      msg("polar_express_coeffs_path = \"good_coeffs.json\"\npolar_express_safety_factor = 0.05\n"),
      "(no error)");
}

// The one-matrix-at-a-time baseline (the benchmark's) computes the same step as the buckets.
TEST(OptimizerNorMuon, BatchingSameShapesChangesNothing) {
  std::mt19937 ga(6), gb(6);
  Model a(ga), b(gb);
  normuon::NorMuonOptions single;
  single.batch_same_shape = false;
  normuon::NorMuon oa{normuon::NorMuonOptions{}}, ob{single};
  oa.add_parameters(a.list());
  ob.add_parameters(b.list());
  std::mt19937 g(7);
  for (int step = 0; step < 2; ++step) {
    for (std::size_t i = 0; i < a.ps.size(); ++i) {
      const Tensor gr = rand_tensor(g, a.ps[i].value.shape());
      a.ps[i].grad.copy_from(gr);
      b.ps[i].grad.copy_from(gr);
    }
    oa.step(OptimizerStep{step, 0.02, 0.1});
    ob.step(OptimizerStep{step, 0.02, 0.1});
  }
  for (std::size_t i = 0; i < a.ps.size(); ++i)
    expect_close(b.ps[i].value, to_double(a.ps[i].value), 1e-6, a.ps[i].name);
  EXPECT_EQ(ob.state().count("experts.momentum.1"), 1u);
}

// The fused passes (sums from the Nesterov pass, row factors inside the update) give the
// separate passes' weights bit for bit, on the CPU and, when there is one, on CUDA.
TEST(OptimizerNorMuon, FusedPassesChangeNothing) {
  std::vector<Device> devices{Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  for (Device d : devices) {
    std::mt19937 ga(6), gb(6);
    Model a(ga, d), b(gb, d);
    std::vector<Parameter*> pa = a.list(), pb = b.list();
    normuon::NorMuonOptions sep;
    sep.fused_passes = false;
    normuon::NorMuon oa{normuon::NorMuonOptions{}}, ob{sep};
    oa.keep_last_update(true);
    ob.keep_last_update(true);
    oa.add_parameters(pa);
    ob.add_parameters(pb);
    std::mt19937 g(7);
    for (int step = 0; step < 3; ++step) {
      for (std::size_t i = 0; i < pa.size(); ++i) {
        const Tensor gr = rand_tensor(g, pa[i]->value.shape());
        pa[i]->grad.copy_from(gr);
        pb[i]->grad.copy_from(gr);
      }
      oa.step(OptimizerStep{step, 0.02, 0.1});
      ob.step(OptimizerStep{step, 0.02, 0.1});
    }
    for (std::size_t i = 0; i < pa.size(); ++i)
      EXPECT_EQ(pa[i]->value.to_floats(), pb[i]->value.to_floats())
          << pa[i]->name << " on " << d.str();
    EXPECT_EQ(oa.last_update(*pa[0]).to_floats(), ob.last_update(*pb[0]).to_floats());
  }
}

TEST(OptimizerNorMuon, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_NORMUON_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = config();
  BuildArgs a;
  a.config = &c;
  EXPECT_EQ(reg.create<Optimizer>("optimizer.normuon", a)->spec_name(), "optimizer.normuon");
}

// The fused passes are bit for bit the separate ones (the CPU loops): the update with the row
// factors inside, the Frobenius normalisation from the Nesterov pass's sums.
TEST(OptimizerNorMuon, ScaledUpdateIsTheTwoPasses) {
  std::mt19937 g(5);
  const Shape s{6, 24, 40};
  Tensor o = rand_tensor(g, s), v = rand_tensor(g, {6, 24}, 0.f, 1.f), none;
  const Tensor f = normuon::neuron_factors(o, v, 0.95f, 1e-10f);
  ASSERT_EQ(f.numel(), 6 * 24);
  Tensor u = Tensor::empty(s, DType::f32), w = rand_tensor(g, s), fused = w.clone();
  normuon::scale_rows(o, f, u);
  normuon::apply_update(w, u, 0.999f, 0.02f, none);
  normuon::apply_scaled_update(fused, o, f, 0.999f, 0.02f, none);
  EXPECT_EQ(fused.to_floats(), w.to_floats());
  // So are the Frobenius sums taken in the Nesterov pass.
  Tensor gm = rand_tensor(g, s), m1 = rand_tensor(g, s), m2 = m1.clone(), u1 = u.clone(),
         u2 = u.clone(), ss = normuon::sumsq_buffer(6, 24 * 40, Device::cpu());
  normuon::nesterov_momentum(gm, m1, u1, 0.9f, &ss);
  normuon::nesterov_momentum(gm, m2, u2, 0.9f);
  Tensor x1 = u1.clone(), x2 = u2.clone();
  normuon::frobenius_normalize(u1, x1, 1.02f, 1e-6f, &ss);
  normuon::frobenius_normalize(u2, x2, 1.02f, 1e-6f);
  EXPECT_EQ(x1.to_floats(), x2.to_floats());
  bool moved = false;
  for (float x : u.to_floats()) moved |= x != 0.f;
  EXPECT_TRUE(moved);
}

// A bucket's passes over its parameters at once (the momentum from each grad where it lies,
// the update into each parameter with its own decay) are the passes per parameter, bit for bit.
TEST(OptimizerNorMuon, BucketPassesAreThePerParameterPasses) {
  std::mt19937 g(8);
  const std::int64_t counts[] = {1, 3, 2};
  std::vector<Tensor> grads, ws;
  for (std::int64_t c : counts) grads.push_back(rand_tensor(g, {c, 5, 12}));
  Tensor m = rand_tensor(g, {6, 5, 12}), m1 = m.clone(), u = Tensor::empty({6, 5, 12}, DType::f32);
  Tensor u1 = u.clone(), ss = normuon::sumsq_buffer(6, 60, Device::cpu());
  normuon::nesterov_momentum(grads, m, u, 0.9f, &ss);
  for (std::int64_t i = 0, first = 0; i < 3; first += counts[i], ++i) {
    Tensor mi = m1.slice(first, first + counts[i]), ui = u1.slice(first, first + counts[i]);
    normuon::nesterov_momentum(grads[std::size_t(i)], mi, ui, 0.9f);
  }
  EXPECT_EQ(u.to_floats(), u1.to_floats());
  EXPECT_EQ(m.to_floats(), m1.to_floats());
  EXPECT_EQ(ss.to_floats(), normuon::sumsq_of(u1).to_floats());
  Tensor v = rand_tensor(g, {6, 5}, 0.f, 1.f), none;
  const Tensor f = normuon::neuron_factors(u, v, 0.95f, 1e-10f);
  std::vector<normuon::UpdateTarget> targets;
  for (std::int64_t i = 0; i < 3; ++i) {
    ws.push_back(rand_tensor(g, {counts[i], 5, 12}));
    targets.push_back({ws.back().clone(), Tensor(), 1.f - 0.01f * float(i)});
  }
  normuon::apply_scaled_update(targets, u, f, 0.02f);
  for (std::int64_t i = 0, first = 0; i < 3; first += counts[i], ++i) {
    Tensor w = ws[std::size_t(i)];
    normuon::apply_scaled_update(w, u.slice(first, first + counts[i]),
                                 f.slice(first * 5, (first + counts[i]) * 5),
                                 targets[std::size_t(i)].decay, 0.02f, none);
    EXPECT_EQ(targets[std::size_t(i)].w.to_floats(), w.to_floats()) << "target " << i;
  }
}

// The Frobenius factor folded into the first Polar Express step (the bf16 path on CUDA) is the
// iteration on the normalised matrix: wide and tall, and a tiny update whose factor is near
// 1 / eps (the scaled coefficients stay finite).
TEST(OptimizerNorMuon, FrobeniusFactorInTheFirstStepIsTheNormalisedIteration) {
  std::mt19937 g(12);
  for (Shape s : {Shape{3, 6, 20}, Shape{3, 20, 6}}) {
    for (float size : {1.f, 1e-9f}) {
      Tensor u = rand_tensor(g, s, -size, size), x = u.clone(), want = u.clone();
      const Tensor scale = normuon::frobenius_scales(normuon::sumsq_of(u), 1.02f, 1e-6f);
      normuon::polar_express(x, normuon::default_coeffs(), &scale);
      normuon::frobenius_normalize(want, want, 1.02f, 1e-6f);
      normuon::polar_express(want, normuon::default_coeffs());
      EXPECT_LT(rel_err(x, want), 1e-5) << shape_str(s) << " size " << size;
      double norm = 0;
      for (float v : want.to_floats()) norm += double(v) * v;
      EXPECT_GT(norm, size == 1.f ? 1.0 : 0.0) << "the iterate is not all zero";
    }
  }
}

// Each CUDA pass against its CPU loop on fresh random inputs: a bucket of many small matrices
// and one of two large ones (the per-matrix reductions split over many blocks).
TEST(OptimizerNorMuon, CudaPassesMatchTheCpuLoops) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 g(11);
  const Device gpu = Device::cuda(0);
  auto on_gpu = [&](const Tensor& t) { return t.to(gpu); };
  for (Shape s : {Shape{37, 24, 40}, Shape{2, 1536, 1024}, Shape{5, 7, 13}}) {
    const std::string what = shape_str(s);
    Tensor gc = rand_tensor(g, s), mc = rand_tensor(g, s), gg = on_gpu(gc), mg = on_gpu(mc);
    Tensor ug = Tensor::empty(s, DType::f32, gpu);
    normuon::nesterov_momentum(gc, mc, gc, 0.9f);  // in place on the CPU, into u on CUDA
    normuon::nesterov_momentum(gg, mg, ug, 0.9f);
    gg = ug;
    EXPECT_LT(rel_err(gg, gc), 1e-6) << "nesterov " << what;
    EXPECT_LT(rel_err(mg, mc), 1e-6) << "momentum " << what;
    Tensor xc = gc.clone(), xg = on_gpu(gc);
    normuon::frobenius_normalize(xc, xc, 1.02f, 1e-6f);
    normuon::frobenius_normalize(xg, xg, 1.02f, 1e-6f);
    EXPECT_LT(rel_err(xg, xc), 1e-6) << "frobenius " << what;
    // The sums of squares from the Nesterov pass give the same bits as summing in the
    // normalisation.
    {
      Tensor g2 = rand_tensor(g, s), m2 = on_gpu(rand_tensor(g, s)), m3 = m2.clone();
      Tensor u2 = Tensor::empty(s, DType::f32, gpu), u3 = Tensor::empty(s, DType::f32, gpu);
      Tensor ss = normuon::sumsq_buffer(s[0], s[1] * s[2], gpu);
      normuon::nesterov_momentum(on_gpu(g2), m2, u2, 0.9f, &ss);
      normuon::nesterov_momentum(on_gpu(g2), m3, u3, 0.9f);
      EXPECT_EQ(u2.to_floats(), u3.to_floats()) << "nesterov with sums " << what;
      Tensor a2 = Tensor::empty(s, DType::bf16, gpu), a3 = Tensor::empty(s, DType::bf16, gpu);
      normuon::frobenius_normalize(u2, a2, 1.02f, 1e-6f, &ss);
      normuon::frobenius_normalize(u3, a3, 1.02f, 1e-6f);
      EXPECT_EQ(a2.to_floats(), a3.to_floats()) << "frobenius from the sums " << what;
    }
    Tensor vc = rand_tensor(g, {s[0], s[1]}, 0.f, 1.f), vg = on_gpu(vc), oc = gc.clone(),
           og = Tensor::empty(s, DType::f32, gpu);
    normuon::neuron_normalize(gc, oc, vc, 0.95f, 1e-10f);
    normuon::neuron_normalize(on_gpu(gc), og, vg, 0.95f, 1e-10f);
    EXPECT_LT(rel_err(og, oc), 1e-6) << "neuron " << what;
    EXPECT_LT(rel_err(vg, vc), 1e-6) << "second moment " << what;
    Tensor wc = rand_tensor(g, s), wg = on_gpu(wc), none;
    normuon::apply_update(wc, oc, 0.999f, 0.02f, none);
    normuon::apply_update(wg, og, 0.999f, 0.02f, none);
    EXPECT_LT(rel_err(wg, wc), 1e-6) << "update " << what;
    // The fused update (row factors applied inside the pass) is bit for bit the two passes, on
    // the device from f32 and from the bf16 work copy, and matches the CPU's.
    Tensor v2c = rand_tensor(g, {s[0], s[1]}, 0.f, 1.f), v2g = on_gpu(v2c);
    const Tensor fc = normuon::neuron_factors(gc, v2c, 0.95f, 1e-10f);
    for (DType d : {DType::f32, DType::bf16}) {
      Tensor o = on_gpu(gc);
      if (d == DType::bf16) o = ops::cast_to(o, DType::bf16);
      Tensor v2 = v2g.clone(), s2 = Tensor::empty(s, DType::f32, gpu);
      const Tensor fg = normuon::neuron_factors(o, v2, 0.95f, 1e-10f);
      if (d == DType::f32) EXPECT_LT(rel_err(fg, fc), 1e-6) << "factors " << what;
      normuon::scale_rows(o, fg, s2);
      Tensor w0 = rand_tensor(g, s), two = on_gpu(w0), fused = on_gpu(w0);
      Tensor cpt = Tensor::empty(s, DType::bf16, gpu), cpf = Tensor::empty(s, DType::bf16, gpu);
      normuon::apply_update(two, s2, 0.999f, 0.02f, cpt);
      normuon::apply_scaled_update(fused, o, fg, 0.999f, 0.02f, cpf);
      EXPECT_EQ(fused.to_floats(), two.to_floats()) << "fused update " << what;
      EXPECT_EQ(cpf.to_floats(), cpt.to_floats()) << "fused bf16 weights " << what;
      if (d == DType::f32) {
        Tensor wcf = w0.clone();
        normuon::apply_scaled_update(wcf, gc, fc, 0.999f, 0.02f, none);
        EXPECT_LT(rel_err(fused, wcf), 1e-6) << "fused update vs CPU " << what;
      }
    }
  }
  for (std::int64_t k : {16, 7}) {  // 4 elements per thread, and one
    const std::string what = "polynomial k " + std::to_string(k);
    Tensor ac = rand_tensor(g, {5, k, k}), a2 = rand_tensor(g, {5, k, k});
    Tensor pc = Tensor::empty({5, k, k}, DType::f32),
           pg = Tensor::empty({5, k, k}, DType::f32, gpu);
    normuon::polynomial(ac, a2, pc, 8.f, -22.f, 15.f);
    normuon::polynomial(on_gpu(ac), on_gpu(a2), pg, 8.f, -22.f, 15.f);
    EXPECT_LT(rel_err(pg, pc), 1e-6) << what;
    // With a Frobenius factor per matrix (up to 1 / eps), and in bf16 from the same inputs.
    std::vector<float> sv = rand_tensor(g, {5}, 0.5f, 3.f).to_floats();
    sv[4] = 1e6f;
    const Tensor scale = Tensor::from_floats(sv, {5}, DType::f32), scale_g = on_gpu(scale);
    normuon::polynomial(ac, a2, pc, 8.f, -22.f, 15.f, &scale);
    normuon::polynomial(on_gpu(ac), on_gpu(a2), pg, 8.f, -22.f, 15.f, &scale_g);
    EXPECT_LT(rel_err(pg, pc), 1e-6) << "scaled " << what;
    Tensor pb = Tensor::empty({5, k, k}, DType::bf16, gpu);
    normuon::polynomial(ops::cast_to(on_gpu(ac), DType::bf16), on_gpu(a2), pb, 8.f, -22.f, 15.f,
                        &scale_g);
    EXPECT_LT(rel_err(pb, pc), 1e-2) << "scaled bf16 " << what;
  }
}

// The bucket passes on CUDA over more parameters than one launch's table holds (32): the
// momentum into the f32 update and into the bf16 work copy (the same values rounded, the same
// sums), the Frobenius factors, and the update with per-parameter decays and bf16 copies, each
// against the CPU and against the per-parameter calls.
TEST(OptimizerNorMuon, CudaBucketPassesOverManyParameters) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 g(13);
  const Device gpu = Device::cuda(0);
  for (Shape one : {Shape{24, 64}, Shape{7, 13}}) {
    const std::string what = shape_str(one);
    const std::int64_t r = one[0], c = one[1];
    std::vector<std::int64_t> counts;
    for (int i = 0; i < 40; ++i) counts.push_back(1 + i % 3);
    std::int64_t B = 0;
    for (std::int64_t k : counts) B += k;
    std::vector<Tensor> gc, gg;
    for (std::int64_t k : counts) {
      gc.push_back(rand_tensor(g, {k, r, c}));
      gg.push_back(gc.back().to(gpu));
    }
    Tensor mc = rand_tensor(g, {B, r, c}), mg = mc.to(gpu), mb = mg.clone();
    Tensor uc = Tensor::empty({B, r, c}, DType::f32),
           ug = Tensor::empty({B, r, c}, DType::f32, gpu);
    Tensor xb = Tensor::empty({B, r, c}, DType::bf16, gpu);
    Tensor sc = normuon::sumsq_buffer(B, r * c, Device::cpu()),
           sg = normuon::sumsq_buffer(B, r * c, gpu), sb = normuon::sumsq_buffer(B, r * c, gpu);
    normuon::nesterov_momentum(gc, mc, uc, 0.9f, &sc);
    normuon::nesterov_momentum(gg, mg, ug, 0.9f, &sg);
    normuon::nesterov_momentum(gg, mb, xb, 0.9f, &sb);
    EXPECT_LT(rel_err(ug, uc), 1e-6) << "nesterov " << what;
    EXPECT_LT(rel_err(mg, mc), 1e-6) << "momentum " << what;
    EXPECT_EQ(mb.to_floats(), mg.to_floats()) << "momentum, bf16 out " << what;
    EXPECT_EQ(xb.to_floats(), ops::cast_to(ug, DType::bf16).to_floats()) << "bf16 out " << what;
    EXPECT_EQ(sb.to_floats(), sg.to_floats()) << "sums, bf16 out " << what;
    EXPECT_EQ(sg.to_floats(), normuon::sumsq_of(ug).to_floats()) << "sums " << what;
    const Tensor fs_c = normuon::frobenius_scales(sc, 1.02f, 1e-6f),
                 fs_g = normuon::frobenius_scales(sg, 1.02f, 1e-6f);
    EXPECT_LT(rel_err(fs_g, fs_c), 1e-6) << "frobenius scales " << what;
    // The update: every third parameter without a bf16 copy, decays differing.
    Tensor vc = rand_tensor(g, {B, r}, 0.f, 1.f), vg = vc.to(gpu);
    const Tensor fc = normuon::neuron_factors(uc, vc, 0.95f, 1e-10f),
                 fg = normuon::neuron_factors(ug, vg, 0.95f, 1e-10f);
    std::vector<normuon::UpdateTarget> tc, tg, one_by_one;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      const Tensor w = rand_tensor(g, {counts[i], r, c});
      const float decay = 1.f - 1e-3f * float(i);
      tc.push_back({w.clone(), Tensor(), decay});
      const Tensor cp = i % 3 ? Tensor::zeros(w.shape(), DType::bf16, gpu) : Tensor();
      tg.push_back({w.to(gpu), cp, decay});
      one_by_one.push_back({w.to(gpu), cp.defined() ? cp.clone() : Tensor(), decay});
    }
    normuon::apply_scaled_update(tc, uc, fc, 0.02f);
    normuon::apply_scaled_update(tg, ug, fg, 0.02f);
    std::int64_t first = 0;
    for (std::size_t i = 0; i < counts.size(); first += counts[i], ++i) {
      normuon::UpdateTarget& t = one_by_one[i];
      normuon::apply_scaled_update(t.w, ug.slice(first, first + counts[i]),
                                   fg.slice(first * r, (first + counts[i]) * r), t.decay, 0.02f,
                                   t.compute);
      EXPECT_EQ(tg[i].w.to_floats(), t.w.to_floats()) << "update " << i << " " << what;
      EXPECT_LT(rel_err(tg[i].w, tc[i].w), 1e-6) << "update vs CPU " << i << " " << what;
      if (t.compute.defined()) {
        EXPECT_EQ(tg[i].compute.to_floats(), t.compute.to_floats()) << "bf16 " << i << what;
        EXPECT_EQ(tg[i].compute.to_floats(), ops::cast_to(tg[i].w, DType::bf16).to_floats());
      }
    }
  }
}

TEST(OptimizerNorMuon, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = config();
  // A bucket of two expert stacks (the batched path) and a tall matrix, at useful sizes.
  auto params = [](Device d) {
    std::vector<Parameter> ps;
    ps.push_back(Parameter::make("e1", {8, 64, 256}, ParamRole::expert_matrix, d));
    ps.push_back(Parameter::make("e2", {8, 64, 256}, ParamRole::expert_matrix, d));
    ps.push_back(Parameter::make("t", {256, 64}, ParamRole::matrix, d));
    return ps;
  };
  std::vector<Parameter> pc = params(Device::cpu()), pg = params(Device::cuda(0));
  std::mt19937 g(5);
  for (std::size_t i = 0; i < pc.size(); ++i) {
    pc[i].value.copy_from(rand_tensor(g, pc[i].value.shape()));
    pg[i].value.copy_from(pc[i].value);
  }
  auto oc = make(c), og = make(c);
  std::vector<Parameter*> lc, lg;
  for (std::size_t i = 0; i < pc.size(); ++i) lc.push_back(&pc[i]), lg.push_back(&pg[i]);
  oc->add_parameters(lc);
  og->add_parameters(lg);
  std::vector<Tensor> before;
  for (Parameter& p : pc) before.push_back(p.value.clone());
  for (int step = 0; step < 2; ++step) {
    for (std::size_t i = 0; i < pc.size(); ++i) {
      const Tensor gr = rand_tensor(g, pc[i].value.shape());
      pc[i].grad.copy_from(gr);
      pg[i].grad.copy_from(gr);
    }
    oc->step(OptimizerStep{step, 0.02, 0.1});
    og->step(OptimizerStep{step, 0.02, 0.1});
  }
  // The moves (w after - w before) agree to bf16 Polar Express accuracy.
  for (std::size_t i = 0; i < pc.size(); ++i) {
    const std::vector<float> a = pc[i].value.to_floats(), b = pg[i].value.to_floats(),
                             w0 = before[i].to_floats();
    double num = 0, den = 0;
    for (std::size_t j = 0; j < a.size(); ++j) {
      const double da = double(a[j]) - w0[j], db = double(b[j]) - w0[j];
      num += (da - db) * (da - db);
      den += da * da;
    }
    EXPECT_LT(std::sqrt(num / den), 3e-2) << pc[i].name;
  }
}

// A step that reads every grad times grad_scale (the clip's factor) is, bit for bit, the step on
// grads scaled in place first, on the CPU and on CUDA, fused and separate passes.
TEST(OptimizerNorMuon, GradScaleIsTheScaledGrads) {
  std::vector<Device> devices{Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  for (Device d : devices)
    for (bool fused : {true, false}) {
      std::mt19937 ga(6), gb(6);
      Model a(ga, d), b(gb, d);
      std::vector<Parameter*> pa = a.list(), pb = b.list();
      normuon::NorMuonOptions o;
      o.fused_passes = fused;
      normuon::NorMuon oa{o}, ob{o};
      oa.add_parameters(pa);
      ob.add_parameters(pb);
      std::mt19937 g(7);
      for (int step = 0; step < 2; ++step) {
        for (std::size_t i = 0; i < pa.size(); ++i) {
          const Tensor gr = rand_tensor(g, pa[i]->value.shape());
          pa[i]->grad.copy_from(gr);
          pb[i]->grad.copy_from(gr);
          ops::scale(pb[i]->grad, 0.37f, pb[i]->grad);
        }
        oa.step(OptimizerStep{step, 0.02, 0.1, 0.37f});
        ob.step(OptimizerStep{step, 0.02, 0.1});
      }
      for (std::size_t i = 0; i < pa.size(); ++i)
        EXPECT_EQ(pa[i]->value.to_floats(), pb[i]->value.to_floats())
            << pa[i]->name << " on " << d.str() << (fused ? " fused" : " separate");
    }
}

}  // namespace
}  // namespace vpmoe::testing
