// Vectorised 2^x for the softmax of the CPU attention kernels (Highway, compiled per target).
//
// Scores are pre-multiplied by log2(e), so the kernels need exp2 only. 2^x = 2^n · 2^f with
// n = round(x), f = x − n ∈ [−0.5, 0.5]; 2^f by its degree-6 minimax polynomial for relative
// error (≤ 1.9e-9 before rounding, so about one f32 ulp in all; 2^0 = 1 exactly). n comes
// from adding 1.5·2^23 + 127: the sum rounds x to an integer and holds n + 127 in its low
// mantissa bits, which shifted into the exponent field give 2^n, with no float↔int
// conversions. Inputs are clamped below at −127: there n + 127 = 0, the exponent field is 0
// and the result exactly +0, which is what masked scores (−inf) must give; values in
// (−127, −126.5) flush to 0 as well (< 1e-38, harmless). Callers only pass x ≤ 0 (scores
// minus the running row maximum, or an old maximum minus the new one), so there is no
// overflow handling.

// Per-target include guard (Highway's pattern for -inl.h files used with foreach_target).
#if defined(LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_
#undef LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_
#else
#define LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2(D d, V x) {
  const hn::RebindToSigned<D> di;
  x = hn::Max(x, hn::Set(d, -127.f));
  const V shifter = hn::Set(d, 12582912.f + 127.f);  // 1.5·2^23 + 127
  const V t = hn::Add(x, shifter);                   // low mantissa bits: n + 127
  // x − n ∈ [−0.5, 0.5], exact; relies on IEEE rounding (no -ffast-math reassociation).
  const V f = hn::Sub(x, hn::Sub(t, shifter));
  // Minimax coefficients (relative error) of 2^f on [−0.5, 0.5]; the constant rounds to 1.
  V p = hn::Set(d, 1.5347320096e-4f);
  p = hn::MulAdd(p, f, hn::Set(d, 1.3400154454e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 9.6184842435e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.5503280816e-2f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.4022646920e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.9314720617e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0000000006f));
  // 2^n: n + 127 shifted into the exponent field (the bits above it shift out).
  const V scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::BitCast(di, t)));
  return hn::Mul(p, scale);
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_
