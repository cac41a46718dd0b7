// FlashAttention forward for Hopper: TMA loads, warpgroup MMAs (wgmma), warp specialisation.
//
// One CTA computes 128 query rows of one (batch, head) with three warpgroups:
//   - the producer (warpgroup 0, one thread) loads the Q tile once and streams K and V tiles of
//     128 keys into a two-stage ring of shared-memory buffers with TMA; each buffer has a "full"
//     mbarrier (TMA bytes arrived) and an "empty" one (both consumers are done reading it). K and
//     V have separate rings so a K buffer is refilled as soon as its scores are computed;
//   - two consumers (warpgroups 1, 2) own 64 query rows each: S = Q·Kᵀ with both operands in
//     shared memory (m64n128k16), the online softmax on the fp32 scores in registers, then
//     O += P·V with P converted to bf16/fp16 A fragments in registers and V read N-major from
//     shared memory. The producer gives its registers to the consumers (setmaxnreg 24 / 240).
// With kOverlap the consumer issues the next tile's Q·Kᵀ before the previous tile's P·V and
// runs the softmax while that P·V is still on the tensor cores (FlashAttention-3's intra-
// warpgroup overlap); without it each tile is scores → softmax → P·V in order.
// Empty tiles are never visited and full tiles skip the mask, as in the mma.sync kernel.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "device_primitives.cuh"
#include "hopper_primitives.cuh"
#include "tile_schedule.cuh"
#include "tma_params.hpp"
#include "wgmma_ops.cuh"

namespace longctx::cuda {

template <int D, bool kOverlapT>
struct WgmmaForwardShape {
  static constexpr int kBQ = 128, kBK = 128;  // query rows per CTA, keys per tile
  static constexpr int kStages = 2;           // buffers per K and per V ring
  static constexpr int kConsumers = 2;        // consumer warpgroups, 64 query rows each
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr bool kOverlap = kOverlapT;
  static constexpr int kPanels = D / 64;                // 64-element panels of a row
  static constexpr uint32_t kPanelBytes = 128u * 128u;  // one panel of 128 rows
  static constexpr uint32_t kTileBytes = kPanels * kPanelBytes;
  // Q, the K ring, the V ring, the mbarriers, and slack to align the base to 1024 bytes.
  static constexpr int kSmemBytes = int((1 + 2 * kStages) * kTileBytes) + 128 + 1024;
  static_assert(D % 64 == 0 && kBQ == kWgmmaForwardRows && kBK == kWgmmaForwardRows,
                "TMA box = one tile");
};

template <typename T>
struct WgmmaFor;
template <>
struct WgmmaFor<__nv_bfloat16> : dev::WgmmaBf16 {};
template <>
struct WgmmaFor<__half> : dev::WgmmaF16 {};

namespace dev {

// Shared-memory addresses of the CTA's buffers and barriers.
template <class Shape>
struct WgmmaForwardSmem {
  uint32_t q, k, v, bars;
  __device__ __forceinline__ explicit WgmmaForwardSmem(uint32_t base) {
    q = base;
    k = q + Shape::kTileBytes;
    v = k + Shape::kStages * Shape::kTileBytes;
    bars = v + Shape::kStages * Shape::kTileBytes;
  }
  __device__ __forceinline__ uint32_t k_tile(int s) const { return k + s * Shape::kTileBytes; }
  __device__ __forceinline__ uint32_t v_tile(int s) const { return v + s * Shape::kTileBytes; }
  __device__ __forceinline__ uint32_t q_full() const { return bars; }
  __device__ __forceinline__ uint32_t k_full(int s) const { return bars + 8 * (1 + s); }
  __device__ __forceinline__ uint32_t k_empty(int s) const {
    return bars + 8 * (1 + Shape::kStages + s);
  }
  __device__ __forceinline__ uint32_t v_full(int s) const {
    return bars + 8 * (1 + 2 * Shape::kStages + s);
  }
  __device__ __forceinline__ uint32_t v_empty(int s) const {
    return bars + 8 * (1 + 3 * Shape::kStages + s);
  }
};

}  // namespace dev

// The per-thread steps of a consumer warpgroup. Thread (warp w of the group, lane 4g + t) owns
// query rows 16w + g and 16w + g + 8 of the group's 64; scores s[4c + e] hold keys 8c + 2t + (e&1)
// of row g (e < 2) or g + 8 (e >= 2), the output o[4c + e] dims 8c + 2t + (e&1) likewise.
template <typename T, int D, class Shape>
struct WgmmaConsumer {
  static constexpr int kBK = Shape::kBK;
  static constexpr int kChunks = kBK / 8;  // 8-key chunks of a score row
  static constexpr int kSteps = kBK / 16;  // k16 steps of P·V
  using Scores = float[kBK / 2];           // [64 rows, kBK] of the warpgroup, 64 per thread
  using Output = float[D / 2];             // [64 rows, D]
  using Probs = uint32_t[kSteps][4];       // P as A fragments, two 16-bit values per register

  // S = Q·Kᵀ for the group's 64 rows (Q rows from q_row_offset) against the K tile: issued only.
  static __device__ __forceinline__ void issue_scores(Scores& s, uint32_t q_tile, uint32_t k_tile,
                                                      uint32_t q_row_offset) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t panel = kk / 4, step = (kk % 4) * 32;
      const uint64_t da = dev::kmajor_descriptor(q_tile + panel * Shape::kPanelBytes +
                                                 q_row_offset * dev::kPanelRowBytes + step);
      const uint64_t db = dev::kmajor_descriptor(k_tile + panel * Shape::kPanelBytes + step);
      if (kk == 0)
        WgmmaFor<T>::ss_n128_zero(s, da, db);
      else
        WgmmaFor<T>::ss_n128(s, da, db, 1u);
    }
  }

  // O += P·V against the V tile: issued only.
  static __device__ __forceinline__ void issue_pv(Output& o, const Probs& pf, uint32_t v_tile) {
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      const uint64_t db =
          dev::nmajor_descriptor(v_tile + kk * 16 * dev::kPanelRowBytes, Shape::kPanelBytes);
      if constexpr (D == 128)
        WgmmaFor<T>::rs_n128(o, pf[kk], db);
      else
        WgmmaFor<T>::rs_n64(o, pf[kk], db);
    }
  }

  // Masked scores become −inf (partial or ragged tiles only). The visibility of this thread's
  // 2 × 32 scores is gathered as bits in a rolled loop (unrolled predicate code bloats the loop
  // past the instruction cache, see forward_kernel.cuh).
  static __device__ __forceinline__ void mask(Scores& s, const DeviceMask& mk, int b, int64_t i0,
                                              int64_t k0, int t) {
    uint32_t bits0 = 0, bits1 = 0;
#pragma unroll 1
    for (int e = 0; e < 2 * kBK / 4; ++e) {
      const int r = e / (kBK / 4), idx = e % (kBK / 4);
      const int64_t i = i0 + 8 * r;
      const int64_t j = k0 + (idx >> 1) * 8 + 2 * t + (idx & 1);
      const bool vis = i < mk.n && j < mk.m && mk.visible(b, i, j);
      if (vis) {
        if (r == 0)
          bits0 |= 1u << idx;
        else
          bits1 |= 1u << idx;
      }
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const uint32_t bits = e < 2 ? bits0 : bits1;
        if (!((bits >> (2 * c + (e & 1))) & 1u)) s[4 * c + e] = -INFINITY;
      }
  }

  // Online softmax of the tile's raw scores (max before scaling, one FFMA + ex2 per
  // probability); P overwrites S. Returns the per-row correction of the running output
  // and whether any row of the warp saw its maximum grow (else the correction is exactly 1).
  static __device__ __forceinline__ bool softmax(Scores& s, float (&row_max)[2],
                                                 float (&row_sum)[2], float (&correction)[2],
                                                 float scale_log2) {
    bool grew = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float raw_max = -INFINITY;
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
        raw_max = fmaxf(raw_max, fmaxf(s[4 * c + 2 * r], s[4 * c + 2 * r + 1]));
      raw_max = dev::quad_max(raw_max);
      const float mx = fmaxf(row_max[r], raw_max * scale_log2);
      const float m_use = mx == -INFINITY ? 0.f : mx;  // a row with nothing visible yet
      grew |= mx > row_max[r];
      correction[r] = dev::fast_exp2(row_max[r] - m_use);
      row_max[r] = mx;
      float sum = 0.f;
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float p = dev::fast_exp2(fmaf(s[4 * c + 2 * r + e], scale_log2, -m_use));
          s[4 * c + 2 * r + e] = p;
          sum += p;
        }
      row_sum[r] = row_sum[r] * correction[r] + sum;
    }
    return __any_sync(0xffffffffu, grew);
  }

  // P (in s) as A fragments of P·V.
  static __device__ __forceinline__ void pack(const Scores& s, Probs& pf) {
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      pf[kk][0] = dev::Elem<T>::pack(s[8 * kk + 0], s[8 * kk + 1]);
      pf[kk][1] = dev::Elem<T>::pack(s[8 * kk + 2], s[8 * kk + 3]);
      pf[kk][2] = dev::Elem<T>::pack(s[8 * kk + 4], s[8 * kk + 5]);
      pf[kk][3] = dev::Elem<T>::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
  }

  static __device__ __forceinline__ void rescale(Output& o, const float (&correction)[2]) {
#pragma unroll
    for (int c = 0; c < D / 8; ++c) {
      o[4 * c + 0] *= correction[0];
      o[4 * c + 1] *= correction[0];
      o[4 * c + 2] *= correction[1];
      o[4 * c + 3] *= correction[1];
    }
  }

  // O = acc / l and LSE = (m + log2 l)·ln 2 for rows i0 and i0 + 8; rows that saw no key get
  // O = 0, LSE = −inf.
  static __device__ __forceinline__ void store(const ForwardParams& p, int b, int h, int64_t i0,
                                               const Output& o, const float (&row_max)[2],
                                               const float (&row_sum)[2], int t) {
    T* out_base = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[2];
    float* lse_base = p.lse + b * p.lse_stride[0] + h * p.lse_stride[1];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = i0 + 8 * r;
      const float l = dev::quad_sum(row_sum[r]);
      if (i >= p.mask.n) continue;
      const float inv = l > 0.f ? 1.f / l : 0.f;
      T* row = out_base + i * p.out_stride[1];
#pragma unroll
      for (int c = 0; c < D / 8; ++c)
        *reinterpret_cast<uint32_t*>(row + 8 * c + 2 * t) =
            dev::Elem<T>::pack(o[4 * c + 2 * r] * inv, o[4 * c + 2 * r + 1] * inv);
      if (t == 0)
        lse_base[i * p.lse_stride[2]] =
            l > 0.f ? (row_max[r] + log2f(l)) * 0.69314718055994531f : -INFINITY;
    }
  }
};

template <typename T, int D, class Shape>
__global__ void __launch_bounds__(Shape::kThreads, 1)
    wgmma_forward_kernel(const __grid_constant__ WgmmaForwardParams wp) {
  using Consumer = WgmmaConsumer<T, D, Shape>;
  constexpr int kStages = Shape::kStages, kBQ = Shape::kBQ, kBK = Shape::kBK;
  const ForwardParams& p = wp.p;
  const DeviceMask& mk = p.mask;
  extern __shared__ unsigned char smem_raw[];
  // TMA's 128-byte swizzle and the wgmma descriptors assume 1024-byte-aligned atoms.
  const dev::WgmmaForwardSmem<Shape> sm((dev::smem_addr(smem_raw) + 1023u) & ~1023u);

  const int tid = threadIdx.x;
  const int group = tid / 128;
  const int64_t qb = int64_t(gridDim.x) - 1 - blockIdx.x;  // late (heavier causal) blocks first
  const int h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (p.heads / p.kv_heads);
  const int64_t q0 = qb * kBQ;
  dev::TileCursor cursor;
  cursor.init(p.tiles, mk, b, qb, /*outer_is_query=*/true);
  const int64_t begin = cursor.begin, count = cursor.end - cursor.begin;

  if (tid == 0) {
    dev::mbarrier_init(sm.q_full(), 1);
    for (int s = 0; s < kStages; ++s) {
      dev::mbarrier_init(sm.k_full(s), 1);
      dev::mbarrier_init(sm.v_full(s), 1);
      dev::mbarrier_init(sm.k_empty(s), Shape::kConsumers * 4);  // one arrival per consumer warp
      dev::mbarrier_init(sm.v_empty(s), Shape::kConsumers * 4);
    }
    dev::fence_barrier_init();
  }
  __syncthreads();

  if (group == 0) {  // producer
    dev::setmaxnreg_decrease<24>();
    if (tid != 0) return;
    dev::mbarrier_arrive_expect_tx(sm.q_full(), Shape::kTileBytes);
    dev::tma_load_tile<Shape::kPanels, Shape::kPanelBytes>(wp.q, sm.q, sm.q_full(), q0, h, b);
    for (int64_t n = 0; n < count; ++n) {
      const int s = int(n % kStages);
      const uint32_t phase = uint32_t(n / kStages) & 1u;
      int64_t kb;
      uint8_t kind;
      cursor.at(p.tiles, mk, qb, begin + n, true, kb, kind);
      (void)kind;
      dev::mbarrier_wait(sm.k_empty(s), phase ^ 1u);
      dev::mbarrier_arrive_expect_tx(sm.k_full(s), Shape::kTileBytes);
      dev::tma_load_tile<Shape::kPanels, Shape::kPanelBytes>(wp.k, sm.k_tile(s), sm.k_full(s),
                                                             kb * kBK, kvh, b);
      dev::mbarrier_wait(sm.v_empty(s), phase ^ 1u);
      dev::mbarrier_arrive_expect_tx(sm.v_full(s), Shape::kTileBytes);
      dev::tma_load_tile<Shape::kPanels, Shape::kPanelBytes>(wp.v, sm.v_tile(s), sm.v_full(s),
                                                             kb * kBK, kvh, b);
    }
    return;
  }

  dev::setmaxnreg_increase<240>();
  const int wtid = tid % 128, lane = tid % 32;
  const bool warp_leader = lane == 0;
  const int g = lane >> 2, t = lane & 3;
  const uint32_t group_row0 = uint32_t(group - 1) * 64;  // within the CTA's block
  const int64_t i0 = q0 + group_row0 + (wtid / 32) * 16 + g;

  typename Consumer::Output o;
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  typename Consumer::Scores s;
  typename Consumer::Probs pf;
  dev::mbarrier_wait(sm.q_full(), 0);

  // Scores of tile n (issued, committed) and everything after them: the mask, the softmax, the
  // rescale of the output and P of the tile in pf. With the overlap, the previous tile's P·V was
  // committed after the scores and is waited for only before the rescale. The first tile is
  // peeled off so that no branch decides which wgmma groups are in flight (ptxas serialises the
  // MMAs when it cannot tell).
  const auto after_scores = [&](int64_t n, bool pv_in_flight) {
    const int st = int(n % kStages);
    int64_t kb;
    uint8_t kind;
    cursor.at(p.tiles, mk, qb, begin + n, true, kb, kind);
    dev::fence_registers(s);
    if (warp_leader) dev::mbarrier_arrive(sm.k_empty(st));
    const int64_t k0 = kb * kBK;
    if (kind == kTilePartial || k0 + kBK > mk.m) Consumer::mask(s, mk, b, i0, k0, t);
    float correction[2];
    const bool grew = Consumer::softmax(s, row_max, row_sum, correction, p.scale_log2);
    if (pv_in_flight) {
      dev::wgmma_wait<0>();
      dev::fence_registers(o);
#pragma unroll
      for (int kk = 0; kk < Consumer::kSteps; ++kk) dev::fence_registers(pf[kk]);
      if (warp_leader) dev::mbarrier_arrive(sm.v_empty(int((n - 1) % kStages)));
    }
    if (grew) Consumer::rescale(o, correction);
    Consumer::pack(s, pf);  // after the wait: the in-flight P·V reads the previous pf
  };
  const auto issue_scores = [&](int64_t n) {
    const int st = int(n % kStages);
    dev::mbarrier_wait(sm.k_full(st), uint32_t(n / kStages) & 1u);
    // Pins the registers of this and the next wgmma group here: a copy or rescale the compiler
    // sank below the fence would make ptxas serialise the in-flight MMAs.
    dev::fence_registers(s);
    dev::fence_registers(o);
#pragma unroll
    for (int kk = 0; kk < Consumer::kSteps; ++kk) dev::fence_registers(pf[kk]);
    dev::wgmma_fence();
    Consumer::issue_scores(s, sm.q, sm.k_tile(st), group_row0);
    dev::wgmma_commit();
    dev::fence_registers(s);
  };
  const auto issue_pv = [&](int64_t n) {  // P·V of tile n (P in pf)
    const int st = int(n % kStages);
    dev::mbarrier_wait(sm.v_full(st), uint32_t(n / kStages) & 1u);
    dev::fence_registers(o);  // the rescale must land before the fence, not be sunk past it
#pragma unroll
    for (int kk = 0; kk < Consumer::kSteps; ++kk) dev::fence_registers(pf[kk]);
    dev::wgmma_fence();
    Consumer::issue_pv(o, pf, sm.v_tile(st));
    dev::wgmma_commit();
    dev::fence_registers(o);
#pragma unroll
    for (int kk = 0; kk < Consumer::kSteps; ++kk) dev::fence_registers(pf[kk]);
  };
  const auto finish_pv = [&](int64_t n) {  // waits for the P·V of tile n and frees its V buffer
    dev::wgmma_wait<0>();
    dev::fence_registers(o);
#pragma unroll
    for (int kk = 0; kk < Consumer::kSteps; ++kk) dev::fence_registers(pf[kk]);
    if (warp_leader) dev::mbarrier_arrive(sm.v_empty(int(n % kStages)));
  };

  if (count > 0) {
    issue_scores(0);
    dev::wgmma_wait<0>();
    after_scores(0, false);
    for (int64_t n = 1; n < count; ++n) {
      if constexpr (Shape::kOverlap) {
        issue_scores(n);
        issue_pv(n - 1);
        dev::wgmma_wait<1>();
        after_scores(n, true);
      } else {
        issue_pv(n - 1);
        finish_pv(n - 1);
        issue_scores(n);
        dev::wgmma_wait<0>();
        after_scores(n, false);
      }
    }
    issue_pv(count - 1);
    finish_pv(count - 1);
  }
  Consumer::store(p, b, h, i0, o, row_max, row_sum, t);
}

// Host-side launch of one (dtype, head dim, overlap) instantiation.
template <typename T, int D, bool kOverlap>
cudaError_t launch_wgmma_forward(const WgmmaForwardParams& wp, cudaStream_t stream) {
  using Shape = WgmmaForwardShape<D, kOverlap>;
  void (*kernel)(WgmmaForwardParams) = wgmma_forward_kernel<T, D, Shape>;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Shape::kSmemBytes);
  if (err != cudaSuccess) return err;
  const dim3 grid(unsigned(wp.p.tiles.outer_blocks), unsigned(wp.p.heads), unsigned(wp.p.batch));
  kernel<<<grid, Shape::kThreads, Shape::kSmemBytes, stream>>>(wp);
  return cudaGetLastError();
}

}  // namespace longctx::cuda
