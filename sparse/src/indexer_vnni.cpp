// The int8 lightning-indexer kernel on AVX-512 VNNI (vpdpbusd: 64 byte products per instruction,
// four times the multiply-adds of a float32 FMA). Highway 1.0.3 has no portable op for it, so
// this one kernel is written with intrinsics, compiled for that ISA alone (target attribute) and
// chosen at run time after a CPU check; elsewhere the int8 path runs the Highway kernel
// (indexer_kernel.cpp, int16 pairs). Same tile as there: 4 heads × 2 vectors of 16 keys.
//
// vpdpbusd multiplies unsigned by signed bytes: keys are stored biased (k + 128, unsigned) and
// the query's bias term 128 · Σ q (per 32-element block) is subtracted from the int32 sums.
// GCC 12's _mm512_undefined_ps() initialises a variable with itself, which -Wmaybe-uninitialized
// reports inside every intrinsic that uses it (cvtepi32_ps, max_ps); the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <atomic>
#include <cstring>

#include "indexer_kernel.hpp"

namespace longctx::sparse {
namespace {

std::atomic<bool> g_vnni_allowed{true};

#if defined(__x86_64__) && defined(__GNUC__)
#define LONGCTX_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

template <int NV>
LONGCTX_VNNI_TARGET inline void VnniTile(const PackedIndexerQuery& q, const PackedIndexerKeys& k,
                                         int64_t x, float* scores) {
  const int64_t dim = q.dim, blocks = dim / kIndexerQuantBlock, groups = dim / 4;
  const uint8_t* base[NV];
  const float* scale_base[NV];
  for (int v = 0; v < NV; ++v) {
    const int64_t key = x + v * kKeyPanel;  // panel-aligned
    base[v] = k.u8.data() + (key / kKeyPanel) * dim * kKeyPanel;
    scale_base[v] = k.scale.data() + (key / kKeyPanel) * blocks * kKeyPanel;
  }
  const __m512 zero = _mm512_setzero_ps();
  __m512 total[NV];
  for (int v = 0; v < NV; ++v) total[v] = zero;
  for (int64_t hq = 0; hq < q.heads_padded; hq += kHeadTile) {
    const int32_t* quads = q.quads.data() + hq * groups;  // [4][dim / 4]
    __m512 accf[kHeadTile][NV];
    for (int h = 0; h < kHeadTile; ++h)
      for (int v = 0; v < NV; ++v) accf[h][v] = zero;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      __m512i acc[kHeadTile][NV];
      for (int h = 0; h < kHeadTile; ++h)
        for (int v = 0; v < NV; ++v) acc[h][v] = _mm512_setzero_si512();
      for (int64_t g = blk * 8; g < blk * 8 + 8; ++g) {
        __m512i kv[NV];
        for (int v = 0; v < NV; ++v) kv[v] = _mm512_loadu_si512(base[v] + g * 4 * kKeyPanel);
        for (int h = 0; h < kHeadTile; ++h) {
          const __m512i qb = _mm512_set1_epi32(quads[h * groups + g]);
          for (int v = 0; v < NV; ++v) acc[h][v] = _mm512_dpbusd_epi32(acc[h][v], kv[v], qb);
        }
      }
      __m512 ks[NV];
      for (int v = 0; v < NV; ++v) ks[v] = _mm512_loadu_ps(scale_base[v] + blk * kKeyPanel);
      for (int h = 0; h < kHeadTile; ++h) {
        const __m512i bias = _mm512_set1_epi32(q.bias[size_t((hq + h) * blocks + blk)]);
        const __m512 qs = _mm512_set1_ps(q.scale[size_t((hq + h) * blocks + blk)]);
        for (int v = 0; v < NV; ++v) {
          const __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h][v], bias));
          accf[h][v] = _mm512_fmadd_ps(dot, _mm512_mul_ps(ks[v], qs), accf[h][v]);
        }
      }
    }
    for (int h = 0; h < kHeadTile; ++h) {
      const __m512 w = _mm512_set1_ps(q.w[size_t(hq + h)]);
      for (int v = 0; v < NV; ++v)
        total[v] = _mm512_fmadd_ps(w, _mm512_max_ps(accf[h][v], zero), total[v]);
    }
  }
  for (int v = 0; v < NV; ++v) _mm512_storeu_ps(scores + x + v * kKeyPanel, total[v]);
}

LONGCTX_VNNI_TARGET void VnniScores(const PackedIndexerQuery& q, const PackedIndexerKeys& k,
                                    int64_t begin, int64_t end, float* scores) {
  int64_t x = begin / kKeyPanel * kKeyPanel;
  for (; x + 2 * kKeyPanel <= end; x += 2 * kKeyPanel) VnniTile<2>(q, k, x, scores);
  for (; x < end; x += kKeyPanel) VnniTile<1>(q, k, x, scores);
}

bool cpu_has_vnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}
#else
bool cpu_has_vnni() {
  return false;
}
#endif

}  // namespace

bool indexer_uses_vnni() {
  return g_vnni_allowed.load() && cpu_has_vnni();
}

void indexer_allow_vnni(bool allow) {
  g_vnni_allowed.store(allow);
}

void indexer_scores_vnni(const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t begin,
                         int64_t end, float* scores) {
#if defined(__x86_64__) && defined(__GNUC__)
  VnniScores(q, k, begin, end, scores);
#else
  (void)q, (void)k, (void)begin, (void)end, (void)scores;
#endif
}

}  // namespace longctx::sparse
