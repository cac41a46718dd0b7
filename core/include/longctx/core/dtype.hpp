// Storage dtypes. Compute is always float32 (or float64 in the reference); bf16 and f16 are
// storage formats converted on load/store with round-to-nearest-even.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace longctx {

enum class DType : uint8_t { f32, bf16, f16, f64 };

constexpr int dtype_size(DType t) {
  return t == DType::f64 ? 8 : (t == DType::f32 ? 4 : 2);
}
std::string_view dtype_name(DType t);
// Parses "f32" | "bf16" | "f16" | "f64"; throws ArgumentError naming `argument` otherwise.
DType parse_dtype(std::string_view text, const std::string& argument = "dtype");

// Relative tolerance for results stored in `t` when compared with a float64 oracle.
double dtype_tolerance(DType t);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Loads element `i` of a buffer of dtype `t` as float.
inline float load_as_f32(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32:
      return static_cast<const float*>(p)[i];
    case DType::bf16:
      return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::f16:
      return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::f64:
      return float(static_cast<const double*>(p)[i]);
  }
  return 0.f;
}

inline double load_as_f64(const void* p, DType t, int64_t i) {
  if (t == DType::f64) return static_cast<const double*>(p)[i];
  return double(load_as_f32(p, t, i));
}

// Stores `x` into element `i` of a buffer of dtype `t`, rounding to nearest even.
inline void store_from_f32(void* p, DType t, int64_t i, float x) {
  switch (t) {
    case DType::f32:
      static_cast<float*>(p)[i] = x;
      break;
    case DType::bf16:
      static_cast<uint16_t*>(p)[i] = f32_to_bf16(x);
      break;
    case DType::f16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(x);
      break;
    case DType::f64:
      static_cast<double*>(p)[i] = x;
      break;
  }
}

// Converts `n` contiguous elements to float32 (vectorised where possible).
void convert_to_f32(const void* src, DType t, int64_t n, float* dst);
// Converts `n` contiguous float32 elements to dtype `t`.
void convert_from_f32(const float* src, int64_t n, DType t, void* dst);

}  // namespace longctx
