#pragma once
// Counter-based random numbers shared by the CPU and CUDA init ops. Element i's value is a
// pure function of (seed, offset + i). Only +, -, *, / and sqrt are used (IEEE-exact on both
// sides; these files are compiled without FMA contraction), so both give the same bits.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define VPMOE_HD __host__ __device__ __forceinline__
#else
#define VPMOE_HD inline
#endif

namespace vpmoe::rng {

struct U32x4 {
  std::uint32_t v[4];
};

VPMOE_HD std::uint32_t mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
  std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

// Philox-4x32-10 (Salmon et al., 2011) on counter (ctr, 0) with key seed.
VPMOE_HD U32x4 philox(std::uint64_t ctr, std::uint64_t seed) {
  std::uint32_t c0 = std::uint32_t(ctr), c1 = std::uint32_t(ctr >> 32), c2 = 0, c3 = 0;
  std::uint32_t k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, hi1;
    std::uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    std::uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    std::uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// 53-bit uniforms: in (0, 1] (safe for log) and in [0, 1).
VPMOE_HD double uniform_open0(std::uint32_t a, std::uint32_t b) {
  std::uint64_t x = ((std::uint64_t(a) << 32) | b) >> 11;
  return (double(x) + 1.0) * (1.0 / 9007199254740992.0);
}
VPMOE_HD double uniform_closed0(std::uint32_t a, std::uint32_t b) {
  std::uint64_t x = ((std::uint64_t(a) << 32) | b) >> 11;
  return double(x) * (1.0 / 9007199254740992.0);
}

// Natural log of u in (0, 1] by exponent extraction and the atanh series; ~1 ulp.
VPMOE_HD double log_det(double u) {
  int e = 0;
  // Scale into [1, 2) by exact powers of two (u >= 2^-53).
  while (u < 1.0) {
    u *= 2.0;
    --e;
  }
  if (u > 1.4142135623730951) {
    u *= 0.5;
    ++e;
  }
  double s = (u - 1.0) / (u + 1.0);
  double s2 = s * s;
  double p = 1.0 / 25.0;
  p = p * s2 + 1.0 / 23.0;
  p = p * s2 + 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return (double(e) * ln2_hi + 2.0 * s * p) + double(e) * ln2_lo;
}

// sin and cos of x in [0, pi/4] by Taylor series (terms below 1e-18 dropped).
VPMOE_HD double sin_small(double x) {
  double x2 = x * x, p = -1.0 / 1307674368000.0;  // -1/15!
  p = p * x2 + 1.0 / 6227020800.0;
  p = p * x2 - 1.0 / 39916800.0;
  p = p * x2 + 1.0 / 362880.0;
  p = p * x2 - 1.0 / 5040.0;
  p = p * x2 + 1.0 / 120.0;
  p = p * x2 - 1.0 / 6.0;
  return x + x * x2 * p;
}
VPMOE_HD double cos_small(double x) {
  double x2 = x * x, p = 1.0 / 20922789888000.0;  // 1/16!
  p = p * x2 - 1.0 / 87178291200.0;
  p = p * x2 + 1.0 / 479001600.0;
  p = p * x2 - 1.0 / 3628800.0;
  p = p * x2 + 1.0 / 40320.0;
  p = p * x2 - 1.0 / 720.0;
  p = p * x2 + 1.0 / 24.0;
  p = p * x2 - 0.5;
  return 1.0 + x2 * p;
}

// cos(2 pi u) for u in [0, 1): exact reduction to an octant.
VPMOE_HD double cos_2pi(double u) {
  double t = u * 4.0;  // exact
  int q = int(t);
  double f = t - double(q);  // exact, in [0, 1)
  const double half_pi = 1.5707963267948966;
  bool flip = f > 0.5;
  double th = (flip ? (1.0 - f) : f) * half_pi;  // in [0, pi/4]
  double c = flip ? sin_small(th) : cos_small(th);
  double s = flip ? cos_small(th) : sin_small(th);
  switch (q & 3) {
    case 0: return c;
    case 1: return -s;
    case 2: return -c;
    default: return s;
  }
}

// Standard normal for counter i (Box-Muller on one Philox block).
VPMOE_HD double normal(std::uint64_t i, std::uint64_t seed) {
  U32x4 r = philox(i, seed);
  double u1 = uniform_open0(r.v[0], r.v[1]);
  double u2 = uniform_closed0(r.v[2], r.v[3]);
  return sqrt(-2.0 * log_det(u1)) * cos_2pi(u2);
}

VPMOE_HD double uniform(std::uint64_t i, std::uint64_t seed) {
  U32x4 r = philox(i, seed);
  return uniform_closed0(r.v[0], r.v[1]);
}

}  // namespace vpmoe::rng
