// The tiles one CTA visits: for its own block (query rows in the forward, key rows in the
// backward) the inner blocks that hold visible pairs, each tagged full or partial. Either read from
// an uploaded BlockLayout (CSR) or derived from position arithmetic (analytic; see TileList).
#pragma once

#include <cstdint>

#include "kernel_params.hpp"

namespace longctx::cuda::dev {

constexpr int64_t kNoBound = int64_t(1) << 62;

// Kind of the tile of query rows [q0, q1) × key rows [k0, k1) (non-empty row ranges) when
// positions are offsets and there are no documents.
__device__ __forceinline__ uint8_t classify_analytic(const DeviceMask& mk, int64_t q0, int64_t q1,
                                                     int64_t k0, int64_t k1) {
  const int64_t qp_lo = mk.q_offset + q0, qp_hi = mk.q_offset + q1 - 1;
  const int64_t kp_lo = mk.k_offset + k0, kp_hi = mk.k_offset + k1 - 1;
  if (mk.causal && kp_lo > qp_hi) return kTileEmpty;
  if (mk.has_window && (kp_hi < qp_lo - mk.left || kp_lo > qp_hi + mk.right)) return kTileEmpty;
  const bool causal_full = !mk.causal || kp_hi <= qp_lo;
  const bool window_full =
      !mk.has_window || (kp_lo >= qp_hi - mk.left && kp_hi <= qp_lo + mk.right);
  return causal_full && window_full ? kTileFull : kTilePartial;
}

// Iterates the inner blocks of outer block `ob` of batch `b`.
struct TileCursor {
  int64_t begin = 0, end = 0;  // CSR entries, or inner block indices (analytic)
  bool csr = false;

  __device__ __forceinline__ void init(const TileList& tl, const DeviceMask& mk, int64_t b,
                                       int64_t ob, bool outer_is_query) {
    csr = tl.csr_begin != nullptr;
    if (csr) {
      begin = tl.csr_begin[b * tl.outer_blocks + ob];
      end = tl.csr_begin[b * tl.outer_blocks + ob + 1];
      return;
    }
    const int64_t rows_outer = outer_is_query ? mk.n : mk.m;
    const int64_t rows_inner = outer_is_query ? mk.m : mk.n;
    const int64_t o0 = ob * tl.block_outer;
    const int64_t o1 = min(o0 + tl.block_outer, rows_outer);
    int64_t lo = -kNoBound, hi = kNoBound;  // visible inner positions
    if (outer_is_query) {
      const int64_t p_lo = mk.q_offset + o0, p_hi = mk.q_offset + o1 - 1;
      if (mk.causal) hi = min(hi, p_hi);
      if (mk.has_window) {
        lo = max(lo, p_lo - mk.left);
        hi = min(hi, p_hi + mk.right);
      }
      lo = lo == -kNoBound ? 0 : lo - mk.k_offset;
      hi = hi == kNoBound ? rows_inner - 1 : hi - mk.k_offset;
    } else {
      const int64_t p_lo = mk.k_offset + o0, p_hi = mk.k_offset + o1 - 1;
      if (mk.causal) lo = max(lo, p_lo);
      if (mk.has_window) {
        lo = max(lo, p_lo - mk.right);
        hi = min(hi, p_hi + mk.left);
      }
      lo = lo == -kNoBound ? 0 : lo - mk.q_offset;
      hi = hi == kNoBound ? rows_inner - 1 : hi - mk.q_offset;
    }
    lo = max(lo, int64_t(0));
    hi = min(hi, rows_inner - 1);
    if (lo > hi) {
      begin = end = 0;
      return;
    }
    begin = lo / tl.block_inner;
    end = hi / tl.block_inner + 1;
  }

  // Inner block index and kind of cursor position i (begin <= i < end).
  __device__ __forceinline__ void at(const TileList& tl, const DeviceMask& mk, int64_t ob,
                                     int64_t i, bool outer_is_query, int64_t& inner,
                                     uint8_t& kind) const {
    if (csr) {
      inner = tl.csr_block[i];
      kind = tl.csr_kind[i];
      return;
    }
    inner = i;
    const int64_t o0 = ob * tl.block_outer;
    const int64_t o1 = min(o0 + tl.block_outer, outer_is_query ? mk.n : mk.m);
    const int64_t i0 = inner * tl.block_inner;
    const int64_t i1 = min(i0 + tl.block_inner, outer_is_query ? mk.m : mk.n);
    kind = outer_is_query ? classify_analytic(mk, o0, o1, i0, i1)
                          : classify_analytic(mk, i0, i1, o0, o1);
  }
};

}  // namespace longctx::cuda::dev
