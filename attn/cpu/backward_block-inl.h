// The body of one backward task, compiled once per SIMD target (included from backward.cpp
// under Highway's foreach_target): for each key block it owns, recompute the probabilities of
// every visible (query block, head) pair from the saved LSE and accumulate the five products
//   S = Q·Kᵀ → P = exp(scale·S − LSE)       dV += Pᵀ·dO
//   dP = dO·Vᵀ → dS = scale·P∘(dP − D)      dK += dSᵀ·Q      dQ[chunk] += dS·K
// Memory per thread: one key block of K, Kᵀ, Vᵀ, dK, dV and three block_q × block_k tiles
// (P, dS and the keep-mask of partially masked blocks).

#if defined(LONGCTX_ATTN_CPU_BACKWARD_BLOCK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_ATTN_CPU_BACKWARD_BLOCK_INL_H_
#undef LONGCTX_ATTN_CPU_BACKWARD_BLOCK_INL_H_
#else
#define LONGCTX_ATTN_CPU_BACKWARD_BLOCK_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "cpu/backward_tiles-inl.h"
#include "cpu/backward_work-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE {
namespace backward_block {
namespace hn = hwy::HWY_NAMESPACE;
namespace tiles = backward_tiles;
using backward_detail::BackwardWork;
using backward_detail::KeyBlockScratch;

// p &= keep: masked-out probabilities become exactly 0. A bitwise select, not a multiply, since
// exp(scale·s − lse) may overflow to inf on a masked entry (its score is not part of the LSE).
HWY_INLINE void ApplyKeep(float* HWY_RESTRICT p, const uint32_t* HWY_RESTRICT keep, int64_t ld,
                          int64_t rows, int64_t vecs) {
  const tiles::DF df;
  const hn::RebindToUnsigned<tiles::DF> du;
  const size_t L = hn::Lanes(df);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < vecs; ++v) {
      float* at = p + r * ld + int64_t(v * L);
      const auto bits = hn::And(hn::BitCast(du, hn::LoadU(df, at)),
                                hn::LoadU(du, keep + r * ld + int64_t(v * L)));
      hn::StoreU(hn::BitCast(df, bits), df, at);
    }
}

// One (query block [q0, q1), key block [k0, k1), query head h) step of the backward.
// dq_head: this head's rows of the chunk's dQ accumulator, [q_hi - q_lo, dim_pad] from q_lo.
HWY_INLINE void GradientStep(const BackwardWork& w, int64_t b, int64_t h, float* dq_head,
                             int64_t q0, int64_t q1, int64_t k0, int64_t k1, bool masked,
                             KeyBlockScratch& s) {
  const size_t L = hn::Lanes(tiles::DF());
  const int64_t rows = q1 - q0, cols = k1 - k0;
  const int64_t key_vecs = (cols + int64_t(L) - 1) / int64_t(L);  // ≤ key_pad / L
  const int64_t ld = w.key_pad;
  const int64_t first = w.row(b, h, q0);
  const float* q = w.q.at(b, h, q0);        // [rows, dim_pad], row stride ldq
  const float* dout = w.dout.at(b, h, q0);  // [rows, dim_v_pad], row stride ldo
  const int64_t ldq = w.q.row, ldo = w.dout.row;
  const float* lse = w.lse + first;      // [rows]
  const float* delta = w.delta + first;  // [rows]
  float* dq = dq_head;                   // [rows, dim_pad]

  // P = exp(scale·Q·Kᵀ − LSE)   [rows, cols]. Columns past `cols` hold junk that no product
  // below reads: every reduction over keys stops at `cols`.
  tiles::Mac<false>(q, ldq, 1, s.k_t.data(), ld, w.dim, s.p.data(), ld, rows, key_vecs);
  tiles::SoftmaxFromLse(s.p.data(), ld, rows, key_vecs, lse, w.scale);
  if (masked) ApplyKeep(s.p.data(), s.keep.data(), ld, rows, key_vecs);
  // dS = scale·P∘(dO·Vᵀ − D)     [rows, cols]
  tiles::Mac<false>(dout, ldo, 1, s.v_t.data(), ld, w.dim_v, s.ds.data(), ld, rows, key_vecs);
  tiles::SoftmaxGrad(s.p.data(), s.ds.data(), ld, rows, key_vecs, delta, w.scale);
  // dV += Pᵀ·dO,  dK += dSᵀ·Q   [cols, dim(_v)_pad]: A transposed through its strides.
  tiles::Mac<true>(s.p.data(), 1, ld, dout, ldo, rows, s.dv.data(), w.dim_v_pad, cols,
                   w.dim_v_pad / int64_t(L));
  tiles::Mac<true>(s.ds.data(), 1, ld, q, ldq, rows, s.dk.data(), w.dim_pad, cols,
                   w.dim_pad / int64_t(L));
  // dQ += dS·K                    [rows, dim_pad]
  tiles::Mac<true>(s.ds.data(), ld, 1, s.k_rows.data(), w.dim_pad, cols, dq, w.dim_pad, rows,
                   w.dim_pad / int64_t(L));
}

}  // namespace backward_block

// Task `task` = (b, g, split, chunk), chunk fastest: the key blocks of the chunk for KV head g,
// over all their visible query blocks and the query heads of the split.
HWY_NOINLINE void BackwardTask(const backward_detail::BackwardWork& w, int64_t task,
                               backward_detail::KeyBlockScratch& s) {
  const int64_t chunk = task % w.chunks;
  const int64_t split = task / w.chunks % w.head_splits;
  const int64_t g = task / w.chunks / w.head_splits % w.kv_heads;
  const int64_t b = task / w.chunks / w.head_splits / w.kv_heads;
  const int64_t h_begin = w.split_begin(g, split), h_end = w.split_begin(g, split + 1);
  const BlockLayout& layout = w.layout(b);
  // This task's heads of the chunk's dQ accumulator, zeroed by the thread that fills it.
  const backward_detail::DqChunk& ch = w.dq_chunk(b, chunk);
  const int64_t chunk_rows = ch.q_hi - ch.q_lo;
  const auto dq_head = [&](int64_t h) { return w.dq + ch.offset + h * chunk_rows * w.dim_pad; };
  for (int64_t h = h_begin; h < h_end; ++h) std::fill_n(dq_head(h), chunk_rows * w.dim_pad, 0.f);
  for (int64_t kb = w.chunk_begin[size_t(chunk)]; kb < w.chunk_begin[size_t(chunk) + 1]; ++kb) {
    const int64_t k0 = layout.k_begin(kb), k1 = layout.k_end(kb);
    std::fill_n(s.dk.data(), (k1 - k0) * w.dim_pad, 0.f);
    std::fill_n(s.dv.data(), (k1 - k0) * w.dim_v_pad, 0.f);
    const auto query_blocks = layout.query_blocks(kb);
    if (!query_blocks.empty()) backward_detail::pack_key_block(w, b, g, k0, k1, s);
    for (const BlockEntry& e : query_blocks) {
      const int64_t q0 = layout.q_begin(e.block), q1 = layout.q_end(e.block);
      const bool masked = e.kind == BlockKind::partial;
      if (masked) backward_detail::build_keep_mask(w, b, q0, q1, k0, k1, s);
      for (int64_t h = h_begin; h < h_end; ++h)
        backward_block::GradientStep(w, b, h, dq_head(h) + (q0 - ch.q_lo) * w.dim_pad, q0, q1, k0,
                                     k1, masked, s);
    }
    backward_detail::store_key_block(w, b, g, split, k0, k1, s);
  }
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
