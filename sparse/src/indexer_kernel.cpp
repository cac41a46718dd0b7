// The lightning indexer's score kernels, compiled per SIMD target by Highway's foreach_target
// and chosen at run time. One query row against a span of packed keys (indexer_kernel.hpp):
//
//   I(t, s) = Σ_j w_j · ReLU(q_j · k_s)
//
// Register tile: 4 heads × 4 vectors of keys (64 keys with 16 lanes): per coordinate, 4 key
// loads and 4 broadcasts feed 16 multiply-adds. ReLU and the weighted head sum are applied once
// per tile. The int8 path multiplies int16 pairs into int32 (ReorderWidenMulAccumulate), exact
// within a 32-element block, then converts and applies the block's two scales in float.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "indexer_kernel.cpp"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep (must precede highway.h)
// clang-format on

#include "indexer_kernel.hpp"

#include <algorithm>
#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::sparse::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Start of key `key`'s lane in a panel layout with `per_coord` elements per coordinate step.
template <typename T>
HWY_INLINE const T* PanelLane(const T* panels, int64_t panel_elems, int64_t key, int64_t width) {
  return panels + (key / kKeyPanel) * panel_elems + (key % kKeyPanel) * width;
}

// NV vectors of keys starting at key x (a multiple of the lane count), f32.
template <int NV, class D>
HWY_INLINE void F32Tile(D d, const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t x,
                        float* scores) {
  using V = hn::Vec<D>;
  const int64_t lanes = int64_t(hn::Lanes(d)), dim = q.dim;
  const float* base[NV];
  for (int v = 0; v < NV; ++v) base[v] = PanelLane(k.f32.data(), dim * kKeyPanel, x + v * lanes, 1);
  const V zero = hn::Zero(d);
  V total[NV];
  for (int v = 0; v < NV; ++v) total[v] = zero;
  for (int64_t hq = 0; hq < q.heads_padded; hq += kHeadTile) {
    const float* q0 = q.f32.data() + hq * dim;  // [4][dim]
    V acc[kHeadTile][NV];
    for (int h = 0; h < kHeadTile; ++h)
      for (int v = 0; v < NV; ++v) acc[h][v] = zero;
    for (int64_t c = 0; c < dim; ++c) {
      V kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = hn::LoadU(d, base[v] + c * kKeyPanel);
      for (int h = 0; h < kHeadTile; ++h) {
        const V qb = hn::Set(d, q0[h * dim + c]);
        for (int v = 0; v < NV; ++v) acc[h][v] = hn::MulAdd(qb, kv[v], acc[h][v]);
      }
    }
    for (int h = 0; h < kHeadTile; ++h) {
      const V wb = hn::Set(d, q.w[size_t(hq + h)]);
      for (int v = 0; v < NV; ++v) total[v] = hn::MulAdd(wb, hn::Max(acc[h][v], zero), total[v]);
    }
  }
  for (int v = 0; v < NV; ++v) hn::StoreU(total[v], d, scores + x + v * lanes);
}

#if HWY_TARGET == HWY_SCALAR
// One lane has no int16 pairs: plain integer dot products per block.
template <int NV, class D>
HWY_INLINE void Int8Tile(D d, const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t x,
                         float* scores) {
  const int64_t dim = q.dim, blocks = dim / kIndexerQuantBlock;
  for (int64_t key = x; key < x + NV * int64_t(hn::Lanes(d)); ++key) {
    const int16_t* kv = PanelLane(k.i16.data(), dim * kKeyPanel, key, 2);
    const float* ks = PanelLane(k.scale.data(), blocks * kKeyPanel, key, 1);
    float total = 0.f;
    for (int64_t h = 0; h < q.heads_padded; ++h) {
      float dot = 0.f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        int32_t sum = 0;
        for (int64_t c = blk * kIndexerQuantBlock; c < (blk + 1) * kIndexerQuantBlock; ++c)
          sum += int32_t(q.i16[size_t(h * dim + c)]) * kv[(c / 2) * 2 * kKeyPanel + c % 2];
        dot += float(sum) * ks[blk * kKeyPanel] * q.scale[size_t(h * blocks + blk)];
      }
      total += q.w[size_t(h)] * std::max(dot, 0.f);
    }
    scores[key] = total;
  }
}
#else
// As F32Tile, from int8 values (stored as int16 pairs) with per-block scales.
template <int NV, class D>
HWY_INLINE void Int8Tile(D d, const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t x,
                         float* scores) {
  using V = hn::Vec<D>;
  const hn::RebindToSigned<D> di32;
  const hn::Repartition<int16_t, decltype(di32)> di16;
  using VI = hn::Vec<decltype(di32)>;
  const int64_t lanes = int64_t(hn::Lanes(d)), dim = q.dim;
  const int64_t blocks = dim / kIndexerQuantBlock;
  const int16_t* base[NV];
  const float* scale_base[NV];
  for (int v = 0; v < NV; ++v) {
    base[v] = PanelLane(k.i16.data(), dim * kKeyPanel, x + v * lanes, 2);
    scale_base[v] = PanelLane(k.scale.data(), blocks * kKeyPanel, x + v * lanes, 1);
  }
  const V zero = hn::Zero(d);
  const VI izero = hn::Zero(di32);
  V total[NV];
  for (int v = 0; v < NV; ++v) total[v] = zero;
  for (int64_t hq = 0; hq < q.heads_padded; hq += kHeadTile) {
    const int16_t* q0 = q.i16.data() + hq * dim;  // [4][dim]
    V accf[kHeadTile][NV];
    for (int h = 0; h < kHeadTile; ++h)
      for (int v = 0; v < NV; ++v) accf[h][v] = zero;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      VI sum0[kHeadTile][NV], sum1[kHeadTile][NV];
      for (int h = 0; h < kHeadTile; ++h)
        for (int v = 0; v < NV; ++v) sum0[h][v] = sum1[h][v] = izero;
      const int64_t p0 = blk * kIndexerQuantBlock / 2;
      for (int64_t p = p0; p < p0 + kIndexerQuantBlock / 2; ++p) {
        hn::Vec<decltype(di16)> kv[NV];
        for (int v = 0; v < NV; ++v) kv[v] = hn::LoadU(di16, base[v] + p * 2 * kKeyPanel);
        for (int h = 0; h < kHeadTile; ++h) {
          int32_t pair;
          std::memcpy(&pair, q0 + h * dim + 2 * p, sizeof(pair));
          const auto qv = hn::BitCast(di16, hn::Set(di32, pair));
          for (int v = 0; v < NV; ++v)
            sum0[h][v] = hn::ReorderWidenMulAccumulate(di32, kv[v], qv, sum0[h][v], sum1[h][v]);
        }
      }
      V ks[NV];
      for (int v = 0; v < NV; ++v) ks[v] = hn::LoadU(d, scale_base[v] + blk * kKeyPanel);
      for (int h = 0; h < kHeadTile; ++h) {
        const V qs = hn::Set(d, q.scale[size_t((hq + h) * blocks + blk)]);
        for (int v = 0; v < NV; ++v) {
          const V dot = hn::ConvertTo(d, hn::RearrangeToOddPlusEven(sum0[h][v], sum1[h][v]));
          accf[h][v] = hn::MulAdd(dot, hn::Mul(ks[v], qs), accf[h][v]);
        }
      }
    }
    for (int h = 0; h < kHeadTile; ++h) {
      const V wb = hn::Set(d, q.w[size_t(hq + h)]);
      for (int v = 0; v < NV; ++v) total[v] = hn::MulAdd(wb, hn::Max(accf[h][v], zero), total[v]);
    }
  }
  for (int v = 0; v < NV; ++v) hn::StoreU(total[v], d, scores + x + v * lanes);
}
#endif  // HWY_TARGET == HWY_SCALAR

void IndexerScores(const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t begin,
                   int64_t end, bool quantized, float* scores) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t x = begin / lanes * lanes;
  if (quantized) {
    for (; x + 2 * lanes <= end; x += 2 * lanes) Int8Tile<2>(d, q, k, x, scores);
    for (; x < end; x += lanes) Int8Tile<1>(d, q, k, x, scores);
  } else {
    for (; x + 4 * lanes <= end; x += 4 * lanes) F32Tile<4>(d, q, k, x, scores);
    for (; x < end; x += lanes) F32Tile<1>(d, q, k, x, scores);
  }
}

}  // namespace longctx::sparse::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::sparse {
HWY_EXPORT(IndexerScores);

void indexer_scores(const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t begin,
                    int64_t end, IndexerPrecision precision, float* scores) {
  if (begin >= end) return;
  if (precision == IndexerPrecision::int8 && !k.u8.empty()) {
    indexer_scores_vnni(q, k, begin, end, scores);
    return;
  }
  HWY_DYNAMIC_DISPATCH(IndexerScores)
  (q, k, begin, end, precision == IndexerPrecision::int8, scores);
}

}  // namespace longctx::sparse
#endif  // HWY_ONCE
