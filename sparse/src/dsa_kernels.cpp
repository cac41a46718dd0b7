// Gathered-row kernels of DeepSeek Sparse Attention (see dsa_kernels.hpp), compiled per SIMD
// target by Highway's foreach_target and chosen at run time.
//
// A dot product of two rows sums over vector lanes at the end; four of them (four heads
// against one key) are reduced together by two interleave-add steps and a halving per 128-bit
// block (StoreSums4), a quarter of the shuffles of four separate horizontal sums.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "dsa_kernels.cpp"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep (must precede highway.h)
// clang-format on

#include "dsa_kernels.hpp"

#include <cmath>
#include <limits>

#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::sparse::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sums the lanes of each 128-bit block's worth of partials down to one 128-bit vector.
#if HWY_TARGET != HWY_SCALAR
template <class D, class V>
HWY_INLINE void StoreBlockSums(D d, V u, float* out) {
  if constexpr (hn::MaxLanes(D()) > 4) {
    const hn::Half<D> dh;
    StoreBlockSums(dh, hn::Add(hn::LowerHalf(dh, u), hn::UpperHalf(dh, u)), out);
  } else {
    hn::StoreU(u, d, out);
  }
}
#endif

// out[0..3] = sum of the lanes of a0..a3.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void StoreSums4(D d, V a0, V a1, V a2, V a3, float* out) {
#if HWY_TARGET == HWY_SCALAR
  out[0] = hn::GetLane(a0);
  out[1] = hn::GetLane(a1);
  out[2] = hn::GetLane(a2);
  out[3] = hn::GetLane(a3);
#else
  const hn::Repartition<uint64_t, D> d64;
  // Per 128-bit block: t01 = [a0, a1, a0, a1] partials, t23 = [a2, a3, a2, a3].
  const V t01 = hn::Add(hn::InterleaveLower(d, a0, a1), hn::InterleaveUpper(d, a0, a1));
  const V t23 = hn::Add(hn::InterleaveLower(d, a2, a3), hn::InterleaveUpper(d, a2, a3));
  const auto lo = hn::InterleaveLower(d64, hn::BitCast(d64, t01), hn::BitCast(d64, t23));
  const auto hi = hn::InterleaveUpper(d64, hn::BitCast(d64, t01), hn::BitCast(d64, t23));
  StoreBlockSums(d, hn::Add(hn::BitCast(d, lo), hn::BitCast(d, hi)), out);  // [a0, a1, a2, a3]
#endif
}

// Gathered rows are random in memory, so the hardware prefetchers cannot help: ask for the
// cache lines of the row kPrefetchAhead positions ahead while this one is computed.
constexpr int64_t kPrefetchAhead = 8;
constexpr int64_t kFloatsPerLine = 16;

HWY_INLINE void PrefetchRow(const float* base, int64_t stride, const int32_t* idx, int64_t r,
                            int64_t count, int64_t dpad) {
  if (r >= count) return;
  const float* row = base + int64_t(idx[r]) * stride;
  for (int64_t c = 0; c < dpad; c += kFloatsPerLine) hwy::Prefetch(row + c);
}

void GatherDots(const float* a, int64_t rows_a, int64_t dpad, const float* base, int64_t stride,
                const int32_t* idx, int64_t count, float* out, int64_t ldo) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  for (int64_t h0 = 0; h0 < rows_a; h0 += kRowTile) {
    const float* a0 = a + h0 * dpad;
    int64_t r = 0;
    for (; r + 2 <= count; r += 2) {  // two gathered rows: 8 accumulators
      if (h0 == 0) {
        PrefetchRow(base, stride, idx, r + kPrefetchAhead, count, dpad);
        PrefetchRow(base, stride, idx, r + kPrefetchAhead + 1, count, dpad);
      }
      const float* x = base + int64_t(idx[r]) * stride;
      const float* y = base + int64_t(idx[r + 1]) * stride;
      V sx[4], sy[4];
      for (int h = 0; h < 4; ++h) sx[h] = sy[h] = hn::Zero(d);
      for (int64_t c = 0; c < dpad; c += lanes) {
        const V xv = hn::LoadU(d, x + c), yv = hn::LoadU(d, y + c);
        for (int h = 0; h < 4; ++h) {
          const V av = hn::LoadU(d, a0 + h * dpad + c);
          sx[h] = hn::MulAdd(av, xv, sx[h]);
          sy[h] = hn::MulAdd(av, yv, sy[h]);
        }
      }
      float sums[8];
      StoreSums4(d, sx[0], sx[1], sx[2], sx[3], sums);
      StoreSums4(d, sy[0], sy[1], sy[2], sy[3], sums + 4);
      for (int h = 0; h < 4; ++h) {
        out[(h0 + h) * ldo + r] = sums[h];
        out[(h0 + h) * ldo + r + 1] = sums[4 + h];
      }
    }
    for (; r < count; ++r) {
      const float* x = base + int64_t(idx[r]) * stride;
      V sx[4];
      for (int h = 0; h < 4; ++h) sx[h] = hn::Zero(d);
      for (int64_t c = 0; c < dpad; c += lanes) {
        const V xv = hn::LoadU(d, x + c);
        for (int h = 0; h < 4; ++h) sx[h] = hn::MulAdd(hn::LoadU(d, a0 + h * dpad + c), xv, sx[h]);
      }
      float sums[4];
      StoreSums4(d, sx[0], sx[1], sx[2], sx[3], sums);
      for (int h = 0; h < 4; ++h) out[(h0 + h) * ldo + r] = sums[h];
    }
  }
}

// acc[4 rows][NV vectors at column c] += Σ_r w · row.
template <int NV, class D>
HWY_INLINE void AccumulateColumns(D d, const float* w, int64_t ldw, const float* base,
                                  int64_t stride, const int32_t* idx, int64_t count, int64_t dpad,
                                  int64_t c, float* acc, bool prefetch) {
  using V = hn::Vec<D>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  V s[4][NV];
  for (int h = 0; h < 4; ++h)
    for (int v = 0; v < NV; ++v) s[h][v] = hn::LoadU(d, acc + h * dpad + c + v * lanes);
  for (int64_t r = 0; r < count; ++r) {
    if (prefetch) PrefetchRow(base, stride, idx, r + kPrefetchAhead, count, dpad);
    const float* x = base + int64_t(idx[r]) * stride + c;
    V xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = hn::LoadU(d, x + v * lanes);
    for (int h = 0; h < 4; ++h) {
      const V wv = hn::Set(d, w[h * ldw + r]);
      for (int v = 0; v < NV; ++v) s[h][v] = hn::MulAdd(wv, xv[v], s[h][v]);
    }
  }
  for (int h = 0; h < 4; ++h)
    for (int v = 0; v < NV; ++v) hn::StoreU(s[h][v], d, acc + h * dpad + c + v * lanes);
}

void GatherAccumulate(const float* w, int64_t ldw, int64_t rows_acc, const float* base,
                      int64_t stride, const int32_t* idx, int64_t count, int64_t dpad, float* acc) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  for (int64_t h0 = 0; h0 < rows_acc; h0 += kRowTile) {
    int64_t c = 0;
    // The first pass over the rows fetches them; later column passes find them in L2.
    for (; c + 4 * lanes <= dpad; c += 4 * lanes)
      AccumulateColumns<4>(d, w + h0 * ldw, ldw, base, stride, idx, count, dpad, c, acc + h0 * dpad,
                           h0 == 0 && c == 0);
    for (; c < dpad; c += lanes)
      AccumulateColumns<1>(d, w + h0 * ldw, ldw, base, stride, idx, count, dpad, c, acc + h0 * dpad,
                           h0 == 0 && c == 0);
  }
}

void RowDots(const float* fixed, const float* base, int64_t stride, const int32_t* list,
             int64_t count, int64_t heads_pad, int64_t dpad, float* out) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  for (int64_t i = 0; i < count; ++i) {
    const float* rows = base + int64_t(list[i]) * stride;  // [heads_pad][dpad]
    for (int64_t h0 = 0; h0 < heads_pad; h0 += 4) {
      V s[4];
      for (int h = 0; h < 4; ++h) s[h] = hn::Zero(d);
      for (int64_t c = 0; c < dpad; c += lanes) {
        const V f = hn::LoadU(d, fixed + c);
        for (int h = 0; h < 4; ++h)
          s[h] = hn::MulAdd(hn::LoadU(d, rows + (h0 + h) * dpad + c), f, s[h]);
      }
      StoreSums4(d, s[0], s[1], s[2], s[3], out + i * heads_pad + h0);
    }
  }
}

void RowAccumulate(const float* w, const float* base, int64_t stride, const int32_t* list,
                   int64_t count, int64_t heads, int64_t heads_pad, int64_t dpad, float* acc) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  for (int64_t c0 = 0; c0 < dpad; c0 += 4 * lanes) {
    const int64_t nv = std::min<int64_t>(4, (dpad - c0) / lanes);
    V s[4];
    for (int64_t v = 0; v < nv; ++v) s[v] = hn::LoadU(d, acc + c0 + v * lanes);
    for (int64_t i = 0; i < count; ++i) {
      const float* rows = base + int64_t(list[i]) * stride + c0;
      for (int64_t h = 0; h < heads; ++h) {
        const V wv = hn::Set(d, w[i * heads_pad + h]);
        for (int64_t v = 0; v < nv; ++v)
          s[v] = hn::MulAdd(wv, hn::LoadU(d, rows + h * dpad + v * lanes), s[v]);
      }
    }
    for (int64_t v = 0; v < nv; ++v) hn::StoreU(s[v], d, acc + c0 + v * lanes);
  }
}

// Both below read and write whole vectors: x must have room up to n rounded up to the lane
// count (the score rows are padded to kColumnPad); lanes past n are scratch, never summed.
float ExpShiftSum(float* x, int64_t n, float shift) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  const V sv = hn::Set(d, shift);
  V sum = hn::Zero(d);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const V e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), sv));
    hn::StoreU(e, d, x + i);
    sum = hn::Add(sum, e);
  }
  if (i < n) {  // the tail as one vector; lanes past n are zeroed before exp and not summed
    const auto valid = hn::FirstN(d, size_t(n - i));
    const V e = hn::Exp(d, hn::IfThenElseZero(valid, hn::Sub(hn::LoadU(d, x + i), sv)));
    hn::StoreU(e, d, x + i);
    sum = hn::Add(sum, hn::IfThenElseZero(valid, e));
  }
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

float MaxOf(const float* x, int64_t n) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = int64_t(hn::Lanes(d));
  const V neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  V m = neg_inf;
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) m = hn::Max(m, hn::LoadU(d, x + i));
  if (i < n)
    m = hn::Max(m, hn::IfThenElse(hn::FirstN(d, size_t(n - i)), hn::LoadU(d, x + i), neg_inf));
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

}  // namespace longctx::sparse::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::sparse {
HWY_EXPORT(GatherDots);
HWY_EXPORT(GatherAccumulate);
HWY_EXPORT(RowDots);
HWY_EXPORT(RowAccumulate);
HWY_EXPORT(ExpShiftSum);
HWY_EXPORT(MaxOf);

void gather_dots(const float* a, int64_t rows_a, int64_t dpad, const float* base, int64_t stride,
                 const int32_t* idx, int64_t count, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(GatherDots)(a, rows_a, dpad, base, stride, idx, count, out, ldo);
}
void gather_accumulate(const float* w, int64_t ldw, int64_t rows_acc, const float* base,
                       int64_t stride, const int32_t* idx, int64_t count, int64_t dpad,
                       float* acc) {
  HWY_DYNAMIC_DISPATCH(GatherAccumulate)(w, ldw, rows_acc, base, stride, idx, count, dpad, acc);
}
void row_dots(const float* fixed, const float* base, int64_t stride, const int32_t* list,
              int64_t count, int64_t heads_pad, int64_t dpad, float* out) {
  HWY_DYNAMIC_DISPATCH(RowDots)(fixed, base, stride, list, count, heads_pad, dpad, out);
}
void row_accumulate(const float* w, const float* base, int64_t stride, const int32_t* list,
                    int64_t count, int64_t heads, int64_t heads_pad, int64_t dpad, float* acc) {
  HWY_DYNAMIC_DISPATCH(RowAccumulate)(w, base, stride, list, count, heads, heads_pad, dpad, acc);
}
float exp_shift_sum(float* x, int64_t n, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftSum)(x, n, shift);
}
float max_of(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(MaxOf)(x, n);
}

}  // namespace longctx::sparse
#endif  // HWY_ONCE
