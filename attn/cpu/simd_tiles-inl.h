// Register-tiled SIMD kernels of FlashAttention-2 on the CPU (Highway, compiled per target):
//   ScoreTiles        S = Q·Kᵀ for a query tile against one packed key block (pack.hpp panels)
//   SoftmaxUpdate     online softmax over one block of scores (SPEC §1, base-2 exponentials)
//   AccumulateTiles   acc = acc·alpha + P·V, the rescale fused into the accumulator load
// Row tiles are kRowTile = 6 rows; callers pad the row count to a multiple of it (padded rows
// are computed and ignored). Column tiles are up to kMaxTileVectors vectors wide: 4 with the 32
// registers of AVX-512 (6×4 = 24 accumulators), 2 otherwise (6×2 = 12 of 16 registers).
// Written for the forward; the backward may include them for its own S and P·V products.

#if defined(LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_
#undef LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_
#else
#define LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <limits>

#include "cpu/pack.hpp"
#include "cpu/simd_exp-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kRowTile = 6;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kMaxTileVectors = 4;
#else
constexpr size_t kMaxTileVectors = 2;
#endif

// s[6][C·N] = q[6][dim] · (keys col0 .. col0+C·N of a packed key block)ᵀ.
// q has row stride ldq, s row stride lds; block is [panels][dim][16] (pack.hpp).
template <size_t C, class D>
HWY_INLINE void ScoreTile(D d, const float* HWY_RESTRICT q, size_t ldq,
                          const float* HWY_RESTRICT block, size_t col0, size_t dim,
                          float* HWY_RESTRICT s, size_t lds) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const float* k[C];
  HWY_UNROLL(4)
  for (size_t c = 0; c < C; ++c) {
    const size_t col = col0 + c * N;
    k[c] = block + (col / kPanelWidth) * kPanelWidth * dim + col % kPanelWidth;
  }
  V acc[kRowTile][C];
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) acc[r][c] = hn::Zero(d);
  }
  for (size_t x = 0; x < dim; ++x) {
    V kv[C];
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) kv[c] = hn::Load(d, k[c] + x * kPanelWidth);
    HWY_UNROLL(6)
    for (size_t r = 0; r < kRowTile; ++r) {
      const V qb = hn::Set(d, q[r * ldq + x]);
      HWY_UNROLL(4)
      for (size_t c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(qb, kv[c], acc[r][c]);
    }
  }
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) hn::Store(acc[r][c], d, s + r * lds + c * N);
  }
}

// s[rows][cols] = q[rows][dim] · Kᵀ of one packed key block; rows % 6 == 0, cols % 16 == 0.
// Column tiles outermost so that a tile of K stays in L1 while every row tile streams it.
template <class D>
HWY_INLINE void ScoreTiles(D d, const float* HWY_RESTRICT q, size_t ldq, size_t rows,
                           const float* HWY_RESTRICT block, size_t cols, size_t dim,
                           float* HWY_RESTRICT s, size_t lds) {
  const size_t N = hn::Lanes(d);
  size_t col0 = 0;
  for (; col0 + kMaxTileVectors * N <= cols; col0 += kMaxTileVectors * N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile)
      ScoreTile<kMaxTileVectors>(d, q + r0 * ldq, ldq, block, col0, dim, s + r0 * lds + col0, lds);
  }
  for (; col0 < cols; col0 += N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile)
      ScoreTile<1>(d, q + r0 * ldq, ldq, block, col0, dim, s + r0 * lds + col0, lds);
  }
}

// Online-softmax step for one block of scores (already in log2 units, masked entries −inf):
// per row r, m' = max(m, rowmax s), alpha = 2^(m − m'), s ← p = 2^(s − m'),
// l = l·alpha + rowsum p, m = m'. While a row has seen no visible key m' = −inf; it then uses
// 0 as its reference so that p = 0 and alpha = 0 (never −inf − −inf = NaN).
template <class D>
HWY_INLINE void SoftmaxUpdate(D d, float* HWY_RESTRICT s, size_t lds, size_t rows, size_t cols,
                              float* HWY_RESTRICT row_max, float* HWY_RESTRICT row_sum,
                              float* HWY_RESTRICT alpha) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (size_t r = 0; r < rows; ++r) {
    float* HWY_RESTRICT row = s + r * lds;
    V vmax = hn::Set(d, kNegInf);
    for (size_t c = 0; c < cols; c += N) vmax = hn::Max(vmax, hn::Load(d, row + c));
    const float block_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
    const float m_new = block_max > row_max[r] ? block_max : row_max[r];
    const float m_ref = m_new == kNegInf ? 0.f : m_new;
    const V vref = hn::Set(d, m_ref);
    V vsum = hn::Zero(d);
    for (size_t c = 0; c < cols; c += N) {
      const V p = Exp2(d, hn::Sub(hn::Load(d, row + c), vref));
      hn::Store(p, d, row + c);
      vsum = hn::Add(vsum, p);
    }
    const float a = std::exp2(row_max[r] - m_ref);  // exp2(−inf) = 0 for a fresh row
    alpha[r] = a;
    row_sum[r] = row_sum[r] * a + hn::GetLane(hn::SumOfLanes(d, vsum));
    row_max[r] = m_new;
  }
}

// acc[6][col0 : col0+C·N] = acc·alpha[r] + p[6][keys] · v[keys][col0 : col0+C·N].
template <size_t C, class D>
HWY_INLINE void AccumulateTile(D d, const float* HWY_RESTRICT p, size_t ldp, size_t keys,
                               const float* HWY_RESTRICT v, size_t ldv, size_t col0,
                               const float* HWY_RESTRICT alpha, float* HWY_RESTRICT acc,
                               size_t lda) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V a[kRowTile][C];
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    const V scale = hn::Set(d, alpha[r]);
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c)
      a[r][c] = hn::Mul(hn::Load(d, acc + r * lda + col0 + c * N), scale);
  }
  const float* HWY_RESTRICT vrow = v + col0;
  for (size_t j = 0; j < keys; ++j, vrow += ldv) {
    V vv[C];
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) vv[c] = hn::Load(d, vrow + c * N);
    HWY_UNROLL(6)
    for (size_t r = 0; r < kRowTile; ++r) {
      const V pb = hn::Set(d, p[r * ldp + j]);
      HWY_UNROLL(4)
      for (size_t c = 0; c < C; ++c) a[r][c] = hn::MulAdd(pb, vv[c], a[r][c]);
    }
  }
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) hn::Store(a[r][c], d, acc + r * lda + col0 + c * N);
  }
}

// acc[rows][dv] = acc·alpha + p[rows][keys] · v[keys][dv]; rows % 6 == 0, dv % 16 == 0.
// Value-column tiles outermost so that a slice of V stays in L1 across the row tiles.
template <class D>
HWY_INLINE void AccumulateTiles(D d, const float* HWY_RESTRICT p, size_t ldp, size_t rows,
                                size_t keys, const float* HWY_RESTRICT v, size_t ldv, size_t dv,
                                const float* HWY_RESTRICT alpha, float* HWY_RESTRICT acc,
                                size_t lda) {
  const size_t N = hn::Lanes(d);
  size_t col0 = 0;
  for (; col0 + kMaxTileVectors * N <= dv; col0 += kMaxTileVectors * N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile)
      AccumulateTile<kMaxTileVectors>(d, p + r0 * ldp, ldp, keys, v, ldv, col0, alpha + r0,
                                      acc + r0 * lda, lda);
  }
  for (; col0 < dv; col0 += N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile)
      AccumulateTile<1>(d, p + r0 * ldp, ldp, keys, v, ldv, col0, alpha + r0, acc + r0 * lda, lda);
  }
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_
