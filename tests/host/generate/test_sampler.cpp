// The sampler against distributions computed here from the definitions (temperature, top-k,
// nucleus), and its draws against those distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "infer/sampler.h"
#include "vpmoe/error.h"

namespace vpmoe::infer {
namespace {

std::vector<float> random_logits(std::size_t n, std::uint64_t seed, float scale = 3.f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// softmax(logits / T) in double, no cuts.
std::vector<double> softmax(const std::vector<float>& l, double T) {
  double m = -INFINITY, s = 0;
  for (float x : l) m = std::max(m, double(x) / T);
  std::vector<double> p(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp(double(l[i]) / T - m);
  for (double& x : p) x /= s;
  return p;
}

TEST(Sampler, GreedyIsTheFirstMaximum) {
  std::vector<float> l = {0.5f, 2.f, -1.f, 2.f, NAN};
  EXPECT_EQ(argmax(l), 1);
  Sampler s({0.0, 1.0, 0, 7});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.next(l), 1);
  std::vector<float> nan_first = {NAN, -3.f, -2.f};
  EXPECT_EQ(argmax(nan_first), 2);
}

TEST(Sampler, TemperatureOnlyIsTheSoftmax) {
  std::vector<float> l = random_logits(50, 1);
  for (double T : {0.5, 1.0, 2.0}) {
    std::vector<double> want = softmax(l, T);
    std::vector<double> got = Sampler({T, 1.0, 0, 0}).distribution(l);
    for (std::size_t i = 0; i < l.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  }
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  std::vector<float> l = random_logits(40, 2);
  const int k = 5;
  std::vector<double> full = softmax(l, 1.0);
  std::vector<std::size_t> idx(l.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return l[a] > l[b]; });
  double mass = 0;
  for (int i = 0; i < k; ++i) mass += full[idx[i]];
  std::vector<double> got = Sampler({1.0, 1.0, k, 0}).distribution(l);
  for (std::size_t r = 0; r < idx.size(); ++r) {
    double want = r < std::size_t(k) ? full[idx[r]] / mass : 0.0;
    EXPECT_NEAR(got[idx[r]], want, 1e-12) << "rank " << r;
  }
}

TEST(Sampler, TopPKeepsTheShortestPrefixReachingP) {
  std::vector<float> l = random_logits(30, 3);
  std::vector<double> full = softmax(l, 0.8);
  std::vector<std::size_t> idx(l.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return l[a] > l[b]; });
  for (double p : {0.3, 0.75, 0.95}) {
    std::size_t n = 0;
    double acc = 0;
    while (acc < p) acc += full[idx[n++]];
    std::vector<double> got = Sampler({0.8, p, 0, 0}).distribution(l);
    for (std::size_t r = 0; r < idx.size(); ++r) {
      double want = r < n ? full[idx[r]] / acc : 0.0;
      EXPECT_NEAR(got[idx[r]], want, 1e-12) << "p " << p << " rank " << r;
    }
  }
}

TEST(Sampler, DrawsFollowTheDistribution) {
  std::vector<float> l = random_logits(8, 4, 1.f);
  Sampler s({1.3, 0.9, 6, 42});
  std::vector<double> p = s.distribution(l);
  const int n = 200000;
  std::vector<int> count(l.size());
  for (int i = 0; i < n; ++i) ++count[std::size_t(s.next(l))];
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (p[i] == 0.0) {
      EXPECT_EQ(count[i], 0) << i;
      continue;
    }
    double sd = std::sqrt(n * p[i] * (1 - p[i]));
    EXPECT_NEAR(count[i], n * p[i], 5 * sd + 1) << i;  // 5 sigma
  }
}

TEST(Sampler, TheSeedFixesTheDraws) {
  std::vector<float> l = random_logits(100, 5);
  Sampler a({1.0, 1.0, 0, 9}), b({1.0, 1.0, 0, 9}), c({1.0, 1.0, 0, 10});
  std::vector<std::int32_t> da, db, dc;
  for (int i = 0; i < 64; ++i)
    da.push_back(a.next(l)), db.push_back(b.next(l)), dc.push_back(c.next(l));
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(Sampler, BadOptionsNameTheFlag) {
  auto msg = [](SamplingOptions o) {
    try {
      Sampler s(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({-1.0, 1.0, 0, 0}).find("--temperature"), std::string::npos);
  EXPECT_NE(msg({1.0, 0.0, 0, 0}).find("--top-p"), std::string::npos);
  EXPECT_NE(msg({1.0, 1.5, 0, 0}).find("--top-p"), std::string::npos);
  EXPECT_NE(msg({1.0, 1.0, -2, 0}).find("--top-k"), std::string::npos);
}

}  // namespace
}  // namespace vpmoe::infer
