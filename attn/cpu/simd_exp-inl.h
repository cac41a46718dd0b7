// Vectorised 2^x for the softmax of the CPU attention kernels (Highway, compiled per target).
//
// Scores are pre-multiplied by log2(e), so the kernels need exp2 only. 2^x = 2^n · 2^f with
// n = round(x), f = x − n ∈ [−0.5, 0.5]; 2^f = e^(f·ln 2) by its degree-6 Taylor polynomial
// (truncation ≤ 1.3e-7 relative, about one f32 ulp). Inputs are clamped to [−127, 127]: at
// x ≤ −127 the exponent field becomes 0 and the result is exactly +0, which is what masked
// scores (−inf) must give; values in (−127, −126.5) flush to 0 as well (< 1e-38, harmless).
// Callers only pass x ≤ 0 (scores minus the running row maximum), so no overflow handling.

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
  x = hn::Min(hn::Max(x, hn::Set(d, -127.f)), hn::Set(d, 127.f));
  const auto n = hn::NearestInt(x);             // int32
  const V f = hn::Sub(x, hn::ConvertTo(d, n));  // [-0.5, 0.5]
  // Taylor coefficients of e^(f ln2): (ln 2)^k / k!.
  V p = hn::Set(d, 1.5403530393381606e-4f);
  p = hn::MulAdd(p, f, hn::Set(d, 1.3333558146428443e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 9.6181291076284772e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.5504108664821580e-2f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.4022650695910071e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.9314718055994531e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.f));
  // 2^n by building the exponent field; n = -127 gives the bit pattern of +0.
  const V scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n, hn::Set(di, 127))));
  return hn::Mul(p, scale);
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LONGCTX_ATTN_CPU_SIMD_EXP_INL_H_
