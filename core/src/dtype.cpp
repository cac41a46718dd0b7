// Dtype names, tolerances and conversions (f16 by bit manipulation, round to nearest even).
// The array conversions between f32 and bf16 / f16 are vectorised with Highway, compiled for
// every SIMD target by foreach_target and chosen at run time. They use the same integer bit
// manipulation as the scalar functions (not the CPU's f16 instructions), so that results,
// NaN payloads included, are bit-for-bit those of bf16_to_f32 / f16_to_f32 / f32_to_bf16 /
// f32_to_f16 on every target; tails shorter than a vector use the scalar functions.
#include "longctx/core/dtype.hpp"

#include <cmath>

#include "longctx/core/error.hpp"

// Highway's foreach_target re-includes this file once per SIMD target; the per-target code
// must come after it (clang-format would sort it first).
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/dtype.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace longctx::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// bf16 is the top half of an f32: shift it into place.
void Bf16ToF32(const uint16_t* src, int64_t n, float* dst) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<uint16_t, decltype(du)> dh;
  const hn::RebindToFloat<decltype(du)> df;
  const int64_t lanes = int64_t(hn::Lanes(du));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = hn::PromoteTo(du, hn::LoadU(dh, src + i));
    hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(h)), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

// As f16_to_f32: rebias the exponent of normals (+112) and of inf / NaN (+224, payload kept);
// subnormals are mantissa · 2^-24, exact in f32.
void F16ToF32(const uint16_t* src, int64_t n, float* dst) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<uint16_t, decltype(du)> dh;
  const hn::RebindToFloat<decltype(du)> df;
  const hn::RebindToSigned<decltype(du)> di;
  const int64_t lanes = int64_t(hn::Lanes(du));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = hn::PromoteTo(du, hn::LoadU(dh, src + i));
    const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
    const auto magnitude = hn::And(h, hn::Set(du, 0x7fffu));  // exponent and mantissa
    const auto exponent = hn::ShiftRight<10>(magnitude);
    const auto shifted = hn::ShiftLeft<13>(magnitude);
    const auto normal = hn::Add(shifted, hn::Set(du, 112u << 23));
    const auto inf_nan = hn::Add(shifted, hn::Set(du, 224u << 23));
    const auto subnormal = hn::BitCast(
        du, hn::Mul(hn::ConvertTo(df, hn::BitCast(di, magnitude)), hn::Set(df, 0x1p-24f)));
    const auto bits =
        hn::IfThenElse(hn::Eq(exponent, hn::Set(du, 31u)), inf_nan,
                       hn::IfThenElse(hn::Eq(exponent, hn::Zero(du)), subnormal, normal));
    hn::StoreU(hn::BitCast(df, hn::Or(bits, sign)), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

// As f32_to_bf16: NaN keeps its top half with the quiet bit set; everything else rounds to
// nearest even by adding 0x7fff plus the lowest kept bit (overflow carries into inf).
void F32ToBf16(const float* src, int64_t n, uint16_t* dst) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(di)> dh;
  const int64_t lanes = int64_t(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto bits = hn::BitCast(du, hn::LoadU(df, src + i));
    const auto magnitude = hn::BitCast(di, hn::And(bits, hn::Set(du, 0x7fffffffu)));
    const auto is_nan = hn::RebindMask(du, hn::Gt(magnitude, hn::Set(di, 0x7f800000)));
    const auto high = hn::ShiftRight<16>(bits);
    const auto round = hn::Add(hn::Set(du, 0x7fffu), hn::And(high, hn::Set(du, 1u)));
    const auto rounded = hn::ShiftRight<16>(hn::Add(bits, round));
    const auto half = hn::IfThenElse(is_nan, hn::Or(high, hn::Set(du, 0x40u)), rounded);
    hn::StoreU(hn::DemoteTo(dh, hn::BitCast(di, half)), dh, dst + i);  // every lane < 2^16
  }
  for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// As f32_to_f16: NaN → quiet NaN, |x| ≥ 65520 → inf, normal range rounded to nearest even
// on the bits, below 2^-14 the subnormal mantissa |x| · 2^24 rounded to nearest even.
void F32ToF16(const float* src, int64_t n, uint16_t* dst) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(di)> dh;
  const int64_t lanes = int64_t(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto bits = hn::BitCast(du, hn::LoadU(df, src + i));
    const auto sign = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 0x8000u));
    const auto magnitude = hn::And(bits, hn::Set(du, 0x7fffffffu));
    const auto magnitude_i = hn::BitCast(di, magnitude);  // < 2^31: signed compares are exact
    const auto is_nan = hn::RebindMask(du, hn::Gt(magnitude_i, hn::Set(di, 0x7f800000)));
    const auto is_inf = hn::RebindMask(du, hn::Gt(magnitude_i, hn::Set(di, 0x477ff000 - 1)));
    const auto is_normal = hn::RebindMask(du, hn::Gt(magnitude_i, hn::Set(di, 0x38800000 - 1)));
    const auto round =
        hn::Add(hn::Set(du, 0xfffu), hn::And(hn::ShiftRight<13>(magnitude), hn::Set(du, 1u)));
    const auto normal =
        hn::ShiftRight<13>(hn::Sub(hn::Add(magnitude, round), hn::Set(du, 0x38000000u)));
    // |x| · 2^24 < 2^10 is exact; Round is to nearest even, so the conversion is exact too.
    const auto scaled = hn::Mul(hn::BitCast(df, magnitude), hn::Set(df, 16777216.0f));
    const auto subnormal = hn::BitCast(du, hn::ConvertTo(di, hn::Round(scaled)));
    const auto half = hn::IfThenElse(
        is_nan, hn::Set(du, 0x7e00u),
        hn::IfThenElse(is_inf, hn::Set(du, 0x7c00u), hn::IfThenElse(is_normal, normal, subnormal)));
    hn::StoreU(hn::DemoteTo(dh, hn::BitCast(di, hn::Or(half, sign))), dh, dst + i);
  }
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace longctx::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx {
HWY_EXPORT(Bf16ToF32);
HWY_EXPORT(F16ToF32);
HWY_EXPORT(F32ToBf16);
HWY_EXPORT(F32ToF16);

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "f16";
    case DType::f64:
      return "f64";
  }
  return "?";
}

DType parse_dtype(std::string_view text, const std::string& argument) {
  if (text == "f32" || text == "float32") return DType::f32;
  if (text == "bf16" || text == "bfloat16") return DType::bf16;
  if (text == "f16" || text == "float16") return DType::f16;
  if (text == "f64" || text == "float64") return DType::f64;
  throw ArgumentError(argument, "one of f32, bf16, f16", "'" + std::string(text) + "'");
}

double dtype_tolerance(DType t) {
  switch (t) {
    case DType::f64:
      return 1e-10;
    case DType::f32:
      return 1e-5;
    case DType::bf16:
      return 2e-2;
    case DType::f16:
      return 1e-2;
  }
  return 0.0;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);  // normal: rebias 15 -> 127
  } else if (man == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: value = man * 2^-24; renormalise.
    float f = std::ldexp(float(man), -24);
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {                                 // normal half range (>= 2^-14)
    uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return uint16_t(sign | ((rounded - 0x38000000u) >> 13));
  }
  // Subnormal or zero: value / 2^-24, rounded to nearest even integer.
  float a;
  std::memcpy(&a, &abs, 4);
  float scaled = a * 16777216.0f;    // exact (power of two)
  float r = std::nearbyint(scaled);  // default rounding mode: nearest even
  return uint16_t(sign | uint16_t(r));
}

void convert_to_f32(const void* src, DType t, int64_t n, float* dst) {
  switch (t) {
    case DType::f32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::bf16:
      HWY_DYNAMIC_DISPATCH(Bf16ToF32)(static_cast<const uint16_t*>(src), n, dst);
      return;
    case DType::f16:
      HWY_DYNAMIC_DISPATCH(F16ToF32)(static_cast<const uint16_t*>(src), n, dst);
      return;
    case DType::f64: {
      const double* s = static_cast<const double*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
  }
}

void convert_from_f32(const float* src, int64_t n, DType t, void* dst) {
  switch (t) {
    case DType::f32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::bf16:
      HWY_DYNAMIC_DISPATCH(F32ToBf16)(src, n, static_cast<uint16_t*>(dst));
      return;
    case DType::f16:
      HWY_DYNAMIC_DISPATCH(F32ToF16)(src, n, static_cast<uint16_t*>(dst));
      return;
    case DType::f64:
      for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = double(src[i]);
      return;
  }
}

}  // namespace longctx
#endif  // HWY_ONCE
