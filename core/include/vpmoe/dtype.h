#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace vpmoe {

enum class DType : std::uint8_t { f32, bf16, i32, i64, u8 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);

// Storage type of a bfloat16 value on the host (the upper 16 bits of an IEEE float).
struct bf16 {
  std::uint16_t bits = 0;
};

inline float bf16_to_float(bf16 v) {
  std::uint32_t u = std::uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even, as __float2bfloat16 does on the GPU; NaN stays a quiet NaN.
inline bf16 float_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{std::uint16_t((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{std::uint16_t(u >> 16)};
}

}  // namespace vpmoe
