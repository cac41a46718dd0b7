// Register-tiled float32 multiply-accumulate kernels for the CPU backward, compiled once per
// SIMD target (included from backward.cpp under Highway's foreach_target).
//
// Every product of the FlashAttention-2 backward has the form
//   C[r, c] (+)= Σ_t A(r, t) · B[t, c]       A(r, t) = a[r·a_row + t·a_red]
// with B and C row-major and their columns a whole number of SIMD vectors. Addressing A
// through two strides lets one kernel serve A·B (S = Q·Kᵀ with Kᵀ packed, dQ = dS·K) and
// Aᵀ·B (dV = Pᵀ·dO, dK = dSᵀ·Q) without transposing the probability tiles: A is only ever
// broadcast one scalar at a time, so its layout costs nothing.
//
// Invariants: columns of B and C are padded to whole vectors (kColumnPad = 16 floats), rows of
// C beyond `rows` and columns beyond `vecs` vectors are never touched.

// Per-target include guard (Highway's toggle idiom).
#if defined(LONGCTX_ATTN_CPU_BACKWARD_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_ATTN_CPU_BACKWARD_TILES_INL_H_
#undef LONGCTX_ATTN_CPU_BACKWARD_TILES_INL_H_
#else
#define LONGCTX_ATTN_CPU_BACKWARD_TILES_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE::backward_tiles {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Register tile: kMaxRows rows of C by kMaxVecs vectors, sized so that the accumulators, one
// row of B and the broadcast scalar fit the register file (32 zmm on AVX-512, 16 otherwise).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kMaxRows = 6;
constexpr int kMaxVecs = 4;  // 6×4 accumulators + 4 B vectors + 1 broadcast = 29 registers
#else
constexpr int kMaxRows = 6;
constexpr int kMaxVecs = 2;  // 12 accumulators + 2 + 1 = 15 of 16 registers
#endif

// One R×V register tile over `depth` reduction steps.
template <int R, int V, bool kAccumulate>
HWY_NOINLINE void MacTile(const float* HWY_RESTRICT a, int64_t a_row, int64_t a_red,
                          const float* HWY_RESTRICT b, int64_t ldb, int64_t depth,
                          float* HWY_RESTRICT c, int64_t ldc) {
  const DF df;
  const size_t L = hn::Lanes(df);
  VF acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v)
      acc[r][v] = kAccumulate ? hn::LoadU(df, c + r * ldc + v * L) : hn::Zero(df);
  for (int64_t t = 0; t < depth; ++t) {
    const float* HWY_RESTRICT bt = b + t * ldb;
    const float* HWY_RESTRICT at = a + t * a_red;
    VF bv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) bv[v] = hn::LoadU(df, bt + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const VF ar = hn::Set(df, at[r * a_row]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = hn::MulAdd(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) hn::StoreU(acc[r][v], df, c + r * ldc + v * L);
}

// Runtime (rows, vecs) → compile-time tile shape, for the ragged edges of a block.
template <bool kAccumulate, int R, int V = 1>
HWY_INLINE void DispatchVecs(int vecs, const float* a, int64_t a_row, int64_t a_red, const float* b,
                             int64_t ldb, int64_t depth, float* c, int64_t ldc) {
  if constexpr (V <= kMaxVecs) {
    if (vecs == V) return MacTile<R, V, kAccumulate>(a, a_row, a_red, b, ldb, depth, c, ldc);
    DispatchVecs<kAccumulate, R, V + 1>(vecs, a, a_row, a_red, b, ldb, depth, c, ldc);
  }
}

template <bool kAccumulate, int R = 1>
HWY_INLINE void DispatchTile(int rows, int vecs, const float* a, int64_t a_row, int64_t a_red,
                             const float* b, int64_t ldb, int64_t depth, float* c, int64_t ldc) {
  if constexpr (R <= kMaxRows) {
    if (rows == R)
      return DispatchVecs<kAccumulate, R>(vecs, a, a_row, a_red, b, ldb, depth, c, ldc);
    DispatchTile<kAccumulate, R + 1>(rows, vecs, a, a_row, a_red, b, ldb, depth, c, ldc);
  }
}

// C[0:rows, 0:vecs·L] (+)= Σ_{t < depth} A(r, t) · B[t, :].
// Column panels outermost so that one panel of B (depth × kMaxVecs vectors) stays in L1 while
// every row tile of A streams past it.
template <bool kAccumulate>
HWY_INLINE void Mac(const float* a, int64_t a_row, int64_t a_red, const float* b, int64_t ldb,
                    int64_t depth, float* c, int64_t ldc, int64_t rows, int64_t vecs) {
  const size_t L = hn::Lanes(DF());
  for (int64_t v0 = 0; v0 < vecs; v0 += kMaxVecs) {
    const int nv = int(std::min<int64_t>(kMaxVecs, vecs - v0));
    for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
      const int nr = int(std::min<int64_t>(kMaxRows, rows - r0));
      DispatchTile<kAccumulate>(nr, nv, a + r0 * a_row, a_row, a_red, b + v0 * L, ldb, depth,
                                c + r0 * ldc + v0 * L, ldc);
    }
  }
}

// p[r, :] = exp(scale · s[r, :] − lse[r]) in place, for `vecs` vectors of each of `rows` rows.
// lse = +inf (a row that sees no key) gives exp(−inf) = 0, so such rows drop out.
HWY_INLINE void SoftmaxFromLse(float* HWY_RESTRICT p, int64_t ldp, int64_t rows, int64_t vecs,
                               const float* HWY_RESTRICT lse, float scale) {
  const DF df;
  const size_t L = hn::Lanes(df);
  const VF vscale = hn::Set(df, scale);
  for (int64_t r = 0; r < rows; ++r) {
    const VF vlse = hn::Set(df, lse[r]);
    float* row = p + r * ldp;
    for (int64_t v = 0; v < vecs; ++v) {
      const VF x = hn::MulSub(hn::LoadU(df, row + v * L), vscale, vlse);
      hn::StoreU(hn::Exp(df, x), df, row + v * L);
    }
  }
}

// ds[r, :] = scale · p[r, :] ∘ (dp[r, :] − delta[r]) in place over dp (the softmax Jacobian).
// The softmax scale is folded in here so that dQ = dS·K and dK = dSᵀ·Q need no extra pass.
HWY_INLINE void SoftmaxGrad(const float* HWY_RESTRICT p, float* HWY_RESTRICT ds, int64_t ld,
                            int64_t rows, int64_t vecs, const float* HWY_RESTRICT delta,
                            float scale) {
  const DF df;
  const size_t L = hn::Lanes(df);
  const VF vscale = hn::Set(df, scale);
  for (int64_t r = 0; r < rows; ++r) {
    const VF vdelta = hn::Set(df, delta[r]);
    const float* prow = p + r * ld;
    float* drow = ds + r * ld;
    for (int64_t v = 0; v < vecs; ++v) {
      const VF dp = hn::Sub(hn::LoadU(df, drow + v * L), vdelta);
      hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, prow + v * L), vscale), dp), df, drow + v * L);
    }
  }
}

}  // namespace longctx::cpu::HWY_NAMESPACE::backward_tiles
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
