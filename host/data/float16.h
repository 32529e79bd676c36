#pragma once
// IEEE 754 binary16 ("float16") as raw bits, for the teacher log-probability sidecar: C++20 has
// no float16 type, and the indexed format has no float16 code, so the sidecar is a uint16
// dataset holding these bits (docs/data.md).
#include <cmath>
#include <cstdint>
#include <cstring>

namespace vpmoe::host::data {

// The largest finite float16 (65504) and the first value that rounds to infinity.
inline constexpr double kFloat16Max = 65504.0;
inline constexpr double kFloat16Overflow = 65520.0;

// x rounded once, to nearest with ties to even, from double (no double rounding through
// float). |x| >= 65520 gives infinity; NaN gives a quiet NaN.
inline std::uint16_t float16_bits(double x) {
  const std::uint16_t sign = std::signbit(x) ? 0x8000u : 0u;
  const double a = std::fabs(x);
  if (std::isnan(x)) return 0x7e00u;
  if (a >= kFloat16Overflow) return std::uint16_t(sign | 0x7c00u);
  // The exponent of a's binade, clamped at the subnormal one: a quantum of 2^(e - 10).
  int e = 0;
  if (a != 0) std::frexp(a, &e), e -= 1;  // a in [2^e, 2^(e+1))
  if (e < -14) e = -14;
  // a / quantum is exact (a power-of-two scaling); nearbyint rounds ties to even.
  const double q = std::nearbyint(std::ldexp(a, 10 - e));  // in [0, 2048]
  auto m = static_cast<std::uint32_t>(q);
  // Biased exponent: 0 for subnormals (e == -14 with m < 1024), else e + 15; a mantissa that
  // rounded up to 2048 moves to the next binade.
  std::uint32_t biased = m >= 1024 ? std::uint32_t(e + 15) : 0u;
  if (m == 2048) m = 1024, biased += 1;
  if (biased >= 31) return std::uint16_t(sign | 0x7c00u);
  return std::uint16_t(sign | (biased << 10) | (m & 0x3ffu));
}

// The exact value of float16 bits (every float16 is a float).
inline float float16_value(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  std::uint32_t bits;
  if (exp == 31)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace vpmoe::host::data
