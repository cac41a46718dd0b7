// Register-tiled SIMD kernels of FlashAttention-2 on the CPU (Highway, compiled per target):
//   ScoreTiles               S = Q·Kᵀ for a query tile against one packed key block (pack.hpp
//                            panels), optionally with per-row lane maxima of S on the side
//   SoftmaxAccumulateTiles   online softmax over one block of scores (SPEC §1, base-2
//                            exponentials) fused with acc = acc·alpha + P·V: the exponentials
//                            of a row tile are computed inside its first P·V tile, where the
//                            out-of-order core hides them under the FMAs
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
// lane_max, unless null, is [6][kPanelWidth]: lane c of row r becomes the maximum of lane c
// over the row's vectors of this tile and, unless first_cols, its previous value.
template <size_t C, class D>
HWY_INLINE void ScoreTile(D d, const float* HWY_RESTRICT q, size_t ldq,
                          const float* HWY_RESTRICT block, size_t col0, size_t dim,
                          float* HWY_RESTRICT s, size_t lds, float* HWY_RESTRICT lane_max,
                          bool first_cols) {
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
  if (lane_max) {
    HWY_UNROLL(6)
    for (size_t r = 0; r < kRowTile; ++r) {
      V m = acc[r][0];
      HWY_UNROLL(4)
      for (size_t c = 1; c < C; ++c) m = hn::Max(m, acc[r][c]);
      float* HWY_RESTRICT lm = lane_max + r * kPanelWidth;
      if (!first_cols) m = hn::Max(m, hn::Load(d, lm));
      hn::Store(m, d, lm);
    }
  }
}

// s[rows][cols] = q[rows][dim] · Kᵀ of one packed key block; rows % 6 == 0, cols % 16 == 0.
// Column tiles outermost so that a tile of K stays in L1 while every row tile streams it.
// span_of(r0) gives the columns [begin, end) that can hold visible pairs for the row tile at
// r0; tiles of columns outside it are not computed but set to −inf. lane_max, unless null, is
// [rows][kPanelWidth] and receives per-lane row maxima of s (the row maximum is the maximum
// of its first Lanes(d) entries); it saves SoftmaxAccumulateTiles a pass over s, and requires
// spans of all columns.
template <class D, class SpanOf>
HWY_INLINE void ScoreTiles(D d, const float* HWY_RESTRICT q, size_t ldq, size_t rows,
                           const float* HWY_RESTRICT block, size_t cols, size_t dim,
                           float* HWY_RESTRICT s, size_t lds, float* HWY_RESTRICT lane_max,
                           const SpanOf& span_of) {
  const size_t N = hn::Lanes(d);
  // Whether the row tile at r0 needs columns [col0, col0 + width); if not, sets them to −inf.
  const auto needed = [&](size_t r0, size_t col0, size_t width) {
    const auto span = span_of(r0);
    if (size_t(span.begin) < col0 + width && col0 < size_t(span.end)) return true;
    const auto neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
    for (size_t r = r0; r < r0 + kRowTile; ++r)
      for (size_t c = col0; c < col0 + width; c += N) hn::Store(neg_inf, d, s + r * lds + c);
    return false;
  };
  size_t col0 = 0;
  for (; col0 + kMaxTileVectors * N <= cols; col0 += kMaxTileVectors * N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      if (!needed(r0, col0, kMaxTileVectors * N)) continue;
      ScoreTile<kMaxTileVectors>(d, q + r0 * ldq, ldq, block, col0, dim, s + r0 * lds + col0, lds,
                                 lane_max ? lane_max + r0 * kPanelWidth : nullptr, col0 == 0);
    }
  }
  for (; col0 < cols; col0 += N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      if (!needed(r0, col0, N)) continue;
      ScoreTile<1>(d, q + r0 * ldq, ldq, block, col0, dim, s + r0 * lds + col0, lds,
                   lane_max ? lane_max + r0 * kPanelWidth : nullptr, col0 == 0);
    }
  }
}

// Loads the accumulators acc[6][C·N] into registers, rescaled by alpha[r] (the online-softmax
// correction exp2(m_old − m_new) fused into the load).
template <size_t C, class D>
HWY_INLINE void LoadScaledAccumulators(D d, const float* HWY_RESTRICT acc, size_t lda,
                                       const float* HWY_RESTRICT alpha,
                                       hn::Vec<D> (&a)[kRowTile][C]) {
  const size_t N = hn::Lanes(d);
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    const hn::Vec<D> scale = hn::Set(d, alpha[r]);
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) a[r][c] = hn::Mul(hn::Load(d, acc + r * lda + c * N), scale);
  }
}

// a[6][C·N] += p[6][j0:j1] · v[j0:j1][C·N]: one rank-1 update per key, P broadcast per row.
template <size_t C, class D>
HWY_INLINE void AccumulateKeys(D d, const float* HWY_RESTRICT p, size_t ldp, size_t j0, size_t j1,
                               const float* HWY_RESTRICT v, size_t ldv,
                               hn::Vec<D> (&a)[kRowTile][C]) {
  const size_t N = hn::Lanes(d);
  const float* HWY_RESTRICT vrow = v + j0 * ldv;
  for (size_t j = j0; j < j1; ++j, vrow += ldv) {
    hn::Vec<D> vv[C];
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) vv[c] = hn::Load(d, vrow + c * N);
    HWY_UNROLL(6)
    for (size_t r = 0; r < kRowTile; ++r) {
      const hn::Vec<D> pb = hn::Set(d, p[r * ldp + j]);
      HWY_UNROLL(4)
      for (size_t c = 0; c < C; ++c) a[r][c] = hn::MulAdd(pb, vv[c], a[r][c]);
    }
  }
}

template <size_t C, class D>
HWY_INLINE void StoreAccumulators(D d, hn::Vec<D> (&a)[kRowTile][C], float* HWY_RESTRICT acc,
                                  size_t lda) {
  const size_t N = hn::Lanes(d);
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) {
    HWY_UNROLL(4)
    for (size_t c = 0; c < C; ++c) hn::Store(a[r][c], d, acc + r * lda + c * N);
  }
}

// acc[6][col0 : col0+C·N] = acc·alpha[r] + p[6][j0:j1] · v[j0:j1][col0 : col0+C·N].
template <size_t C, class D>
HWY_INLINE void AccumulateTile(D d, const float* HWY_RESTRICT p, size_t ldp, size_t j0, size_t j1,
                               const float* HWY_RESTRICT v, size_t ldv, size_t col0,
                               const float* HWY_RESTRICT alpha, float* HWY_RESTRICT acc,
                               size_t lda) {
  hn::Vec<D> a[kRowTile][C];
  LoadScaledAccumulators<C>(d, acc + col0, lda, alpha, a);
  AccumulateKeys<C>(d, p, ldp, j0, j1, v + col0, ldv, a);
  StoreAccumulators<C>(d, a, acc + col0, lda);
}

// The first value-column tile of a row tile, with the softmax of its scores fused in:
// every N keys, p[r][j..j+N) = 2^(s − m_ref[r]) is computed (in place) and summed into
// sums[r] just before the FMAs that consume it. Otherwise as AccumulateTile over keys
// [j_begin, j_end); j_begin % N == 0.
template <size_t C, class D>
HWY_INLINE void SoftmaxAccumulateTile(D d, float* HWY_RESTRICT p, size_t ldp, size_t j_begin,
                                      size_t j_end, const float* HWY_RESTRICT v, size_t ldv,
                                      const float* HWY_RESTRICT alpha,
                                      const float* HWY_RESTRICT m_ref, float* HWY_RESTRICT sums,
                                      float* HWY_RESTRICT acc, size_t lda) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V a[kRowTile][C];
  LoadScaledAccumulators<C>(d, acc, lda, alpha, a);
  // Per-row lane sums of p, [6][N]; in memory, as the accumulators fill the registers.
  HWY_ALIGN float lane_sums[kRowTile * kPanelWidth];
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r) hn::Store(hn::Zero(d), d, lane_sums + r * kPanelWidth);
  for (size_t j0 = j_begin; j0 < j_end; j0 += N) {
    HWY_UNROLL(6)
    for (size_t r = 0; r < kRowTile; ++r) {
      float* HWY_RESTRICT row = p + r * ldp + j0;
      const V e = Exp2(d, hn::Sub(hn::Load(d, row), hn::Set(d, m_ref[r])));
      hn::Store(e, d, row);
      float* HWY_RESTRICT ls = lane_sums + r * kPanelWidth;
      hn::Store(hn::Add(hn::Load(d, ls), e), d, ls);
    }
    const size_t j1 = j0 + N < j_end ? j0 + N : j_end;
    AccumulateKeys<C>(d, p, ldp, j0, j1, v, ldv, a);
  }
  StoreAccumulators<C>(d, a, acc, lda);
  HWY_UNROLL(6)
  for (size_t r = 0; r < kRowTile; ++r)
    sums[r] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, lane_sums + r * kPanelWidth)));
}

// Online-softmax step for one block of scores s[rows][cols] (already in log2 units, masked
// and padded entries −inf) fused with acc[rows][dv] = acc·alpha + p[rows][keys] · v[keys][dv];
// rows % 6 == 0, cols % 16 == 0, dv % 16 == 0, keys ≤ cols. Per row r: m' = max(m, rowmax s),
// alpha = 2^(m − m'), s ← p = 2^(s − m'), l = l·alpha + rowsum p, m = m'. While a row has seen
// no visible key m' = −inf; it then uses 0 as its reference so that p = 0 and alpha = 0 (never
// −inf − −inf = NaN). lane_max, from ScoreTiles, gives the row maxima of s; when null (the
// caller has masked s since) they are taken from s itself. span_of(r0), as for ScoreTiles
// (end ≤ keys), limits the keys of the row tile at r0: p outside it is 0.
// Value-column tiles outermost so that a slice of V stays in L1 across the row tiles.
template <class D, class SpanOf>
HWY_INLINE void SoftmaxAccumulateTiles(D d, float* HWY_RESTRICT s, size_t lds, size_t rows,
                                       size_t cols, const float* HWY_RESTRICT lane_max,
                                       const float* HWY_RESTRICT v, size_t ldv, size_t dv,
                                       float* HWY_RESTRICT row_max, float* HWY_RESTRICT row_sum,
                                       float* HWY_RESTRICT alpha, float* HWY_RESTRICT acc,
                                       size_t lda, const SpanOf& span_of) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const bool wide = dv >= kMaxTileVectors * N;  // the first value-column tile is C = 4 (2)
  for (size_t r0 = 0; r0 < rows; r0 += kRowTile) {
    const auto span = span_of(r0);
    const size_t j_begin = size_t(span.begin) / N * N, j_end = size_t(span.end);
    float m_ref[kRowTile], sums[kRowTile];
    // m_old − m_ref per row, then alpha = 2^(m_old − m_ref), a vector at a time; lanes beyond
    // the row tile are padding.
    HWY_ALIGN float shift[kPanelWidth] = {};
    for (size_t r = 0; r < kRowTile; ++r) {
      const size_t i = r0 + r;
      V vmax;
      if (lane_max) {
        vmax = hn::Load(d, lane_max + i * kPanelWidth);
      } else {
        vmax = hn::Set(d, kNegInf);
        for (size_t c = 0; c < cols; c += N) vmax = hn::Max(vmax, hn::Load(d, s + i * lds + c));
      }
      const float block_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
      const float m_new = block_max > row_max[i] ? block_max : row_max[i];
      m_ref[r] = m_new == kNegInf ? 0.f : m_new;
      shift[r] = row_max[i] - m_ref[r];  // −inf for a fresh row: alpha = 0
      row_max[i] = m_new;
    }
    for (size_t r = 0; r < kRowTile; r += N)
      hn::Store(Exp2(d, hn::Load(d, shift + r)), d, shift + r);
    for (size_t r = 0; r < kRowTile; ++r) alpha[r0 + r] = shift[r];
    if (wide) {
      SoftmaxAccumulateTile<kMaxTileVectors>(d, s + r0 * lds, lds, j_begin, j_end, v, ldv,
                                             alpha + r0, m_ref, sums, acc + r0 * lda, lda);
    } else {
      SoftmaxAccumulateTile<1>(d, s + r0 * lds, lds, j_begin, j_end, v, ldv, alpha + r0, m_ref,
                               sums, acc + r0 * lda, lda);
    }
    for (size_t r = 0; r < kRowTile; ++r)
      row_sum[r0 + r] = row_sum[r0 + r] * alpha[r0 + r] + sums[r];
  }
  size_t col0 = wide ? kMaxTileVectors * N : N;
  for (; col0 + kMaxTileVectors * N <= dv; col0 += kMaxTileVectors * N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      const auto span = span_of(r0);
      AccumulateTile<kMaxTileVectors>(d, s + r0 * lds, lds, size_t(span.begin), size_t(span.end), v,
                                      ldv, col0, alpha + r0, acc + r0 * lda, lda);
    }
  }
  for (; col0 < dv; col0 += N) {
    for (size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      const auto span = span_of(r0);
      AccumulateTile<1>(d, s + r0 * lds, lds, size_t(span.begin), size_t(span.end), v, ldv, col0,
                        alpha + r0, acc + r0 * lda, lda);
    }
  }
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LONGCTX_ATTN_CPU_SIMD_TILES_INL_H_
