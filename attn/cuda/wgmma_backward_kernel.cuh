// FlashAttention backward for Hopper: TMA loads, warpgroup MMAs (wgmma), warp specialisation.
//
// One CTA owns 128 key rows of one (batch, KV head) and walks every 64-row query block that sees
// them, for each query head of the KV group (the tile list and the preprocessing / dQ conversion
// kernels are those of backward_kernel.cuh). Three warpgroups:
//   - the producer (one thread) loads K and V once, then streams Q and dO through a two-stage
//     ring with TMA (the row statistics lse₂ and delta are read by the consumers from global
//     memory: 64 floats per step, L1-resident after the first warp);
//   - two consumers own 64 key rows each and work on transposed blocks:
//       Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ           (m64n64k16, both operands in shared memory)
//       Pᵀ = 2^(Sᵀ·scale·log2 e − lse₂),  dSᵀ = Pᵀ ∘ (dPᵀ − delta)
//       dV += Pᵀ·dO,  dK += dSᵀ·Q         (m64n128k16, Pᵀ / dSᵀ from registers, fp32 accumulators)
//       dQ[:, half] += dS·K[:, half]     (dSᵀ of both consumers through shared memory, M-major;
//                                          each consumer takes one half of D; fp32 atomics)
// dK is scaled by the softmax scale at the end, dQ in the conversion kernel. Head dim 128 only.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backward_kernel.cuh"
#include "device_primitives.cuh"
#include "hopper_primitives.cuh"
#include "tile_schedule.cuh"
#include "tma_params.hpp"
#include "wgmma_forward_kernel.cuh"
#include "wgmma_ops.cuh"

namespace longctx::cuda {

template <int D>
struct WgmmaBackwardShape {
  static constexpr int kBK = kWgmmaBackwardKeyRows;    // key rows per CTA
  static constexpr int kBQ = kWgmmaBackwardQueryRows;  // query rows per step
  static constexpr int kStages = 2;
  static constexpr int kConsumers = 2;  // 64 key rows each
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kPanels = D / 64;
  static constexpr uint32_t kKeyPanelBytes = kBK * 128u;    // one panel of the K / V tile
  static constexpr uint32_t kQueryPanelBytes = kBQ * 128u;  // one panel of a Q / dO tile
  static constexpr uint32_t kKeyTileBytes = kPanels * kKeyPanelBytes;
  static constexpr uint32_t kQueryTileBytes = kPanels * kQueryPanelBytes;
  static constexpr uint32_t kDsBytes = kBK * kBQ * 2u;  // dSᵀ [kBK][kBQ], one 128-byte panel
  static constexpr int kSmemBytes =
      int(2 * kKeyTileBytes + 2 * kStages * kQueryTileBytes + 2 * kDsBytes) + 128 + 1024;
  static_assert(D == 128, "the dQ product gives each consumer one 64-column panel of D");
  static_assert(kBQ == 64, "dSᵀ rows are one 128-byte panel");
};

namespace dev {

template <class Shape>
struct WgmmaBackwardSmem {
  uint32_t k, v, q, dout, ds, bars;
  __device__ __forceinline__ explicit WgmmaBackwardSmem(uint32_t base) {
    k = base;
    v = k + Shape::kKeyTileBytes;
    q = v + Shape::kKeyTileBytes;
    dout = q + Shape::kStages * Shape::kQueryTileBytes;
    ds = dout + Shape::kStages * Shape::kQueryTileBytes;
    bars = ds + 2 * Shape::kDsBytes;
  }
  __device__ __forceinline__ uint32_t q_tile(int s) const { return q + s * Shape::kQueryTileBytes; }
  __device__ __forceinline__ uint32_t do_tile(int s) const {
    return dout + s * Shape::kQueryTileBytes;
  }
  __device__ __forceinline__ uint32_t ds_tile(int s) const { return ds + s * Shape::kDsBytes; }
  __device__ __forceinline__ uint32_t kv_full() const { return bars; }
  __device__ __forceinline__ uint32_t q_full(int s) const { return bars + 8 * (1 + s); }
  __device__ __forceinline__ uint32_t do_full(int s) const {
    return bars + 8 * (1 + Shape::kStages + s);
  }
  __device__ __forceinline__ uint32_t empty(int s) const {
    return bars + 8 * (1 + 2 * Shape::kStages + s);
  }
};

}  // namespace dev

template <typename T, int D>
__global__ void __launch_bounds__(WgmmaBackwardShape<D>::kThreads, 1)
    wgmma_backward_kernel(const __grid_constant__ WgmmaBackwardParams wp) {
  using Shape = WgmmaBackwardShape<D>;
  using Mma = WgmmaFor<T>;
  constexpr int kStages = Shape::kStages, kBK = Shape::kBK, kBQ = Shape::kBQ;
  constexpr int kSteps = kBQ / 16;  // k16 steps of the dV / dK products (query rows)
  const BackwardParams& p = wp.p;
  const DeviceMask& mk = p.mask;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t smem_base = dev::smem_addr(smem_raw);
  const dev::WgmmaBackwardSmem<Shape> sm((smem_base + 1023u) & ~1023u);
  // An ordinary pointer for the ordinary stores of dSᵀ.
  const auto generic = [&](uint32_t addr) { return smem_raw + (addr - smem_base); };

  const int tid = threadIdx.x;
  const int role = tid / 128;  // 0 producer, 1..2 consumers
  const int64_t kb = blockIdx.x;
  const int kvh = blockIdx.y, b = blockIdx.z;
  const int heads_per_kv = p.heads / p.kv_heads;
  const int64_t k0 = kb * kBK;
  const int64_t n_pad = p.tiles.inner_blocks * kBQ;  // row stride of lse₂ / delta
  dev::TileCursor cursor;
  cursor.init(p.tiles, mk, b, kb, /*outer_is_query=*/false);
  const int64_t tiles_per_head = cursor.end - cursor.begin;
  const int64_t steps = tiles_per_head * heads_per_kv;

  if (tid == 0) {
    dev::mbarrier_init(sm.kv_full(), 1);
    for (int s = 0; s < kStages; ++s) {
      dev::mbarrier_init(sm.q_full(s), 1);
      dev::mbarrier_init(sm.do_full(s), 1);
      dev::mbarrier_init(sm.empty(s), Shape::kConsumers * 4);  // one arrival per consumer warp
    }
    dev::fence_barrier_init();
  }
  __syncthreads();

  if (role == 0) {  // producer: one thread issues the TMA loads
    dev::setmaxnreg_decrease<24>();
    if (tid != 0 || steps == 0) return;
    {
      dev::mbarrier_arrive_expect_tx(sm.kv_full(), 2 * Shape::kKeyTileBytes);
      dev::tma_load_tile<Shape::kPanels, Shape::kKeyPanelBytes>(wp.k, sm.k, sm.kv_full(), k0, kvh,
                                                                b);
      dev::tma_load_tile<Shape::kPanels, Shape::kKeyPanelBytes>(wp.v, sm.v, sm.kv_full(), k0, kvh,
                                                                b);
    }
    for (int64_t step = 0; step < steps; ++step) {
      const int s = int(step % kStages);
      const uint32_t phase = uint32_t(step / kStages) & 1u;
      const int h = kvh * heads_per_kv + int(step / tiles_per_head);
      int64_t qb;
      uint8_t kind;
      cursor.at(p.tiles, mk, kb, cursor.begin + step % tiles_per_head, false, qb, kind);
      (void)kind;
      dev::mbarrier_wait(sm.empty(s), phase ^ 1u);
      {
        dev::mbarrier_arrive_expect_tx(sm.q_full(s), Shape::kQueryTileBytes);
        dev::tma_load_tile<Shape::kPanels, Shape::kQueryPanelBytes>(wp.q, sm.q_tile(s),
                                                                    sm.q_full(s), qb * kBQ, h, b);
        dev::mbarrier_arrive_expect_tx(sm.do_full(s), Shape::kQueryTileBytes);
        dev::tma_load_tile<Shape::kPanels, Shape::kQueryPanelBytes>(wp.dout, sm.do_tile(s),
                                                                    sm.do_full(s), qb * kBQ, h, b);
      }
    }
    return;
  }

  dev::setmaxnreg_increase<240>();
  const int wg = role - 1;  // consumer index: key rows [64·wg, 64·wg + 64) of the tile
  const int wtid = tid % 128, warp_in_group = wtid / 32, lane = tid % 32;
  const bool warp_leader = lane == 0;
  const int g = lane >> 2, t = lane & 3;
  const int key_row0 = wg * 64 + warp_in_group * 16 + g;  // this thread's rows: +0 and +8

  float dk[D / 2], dv[D / 2];  // [64 keys, D] of the group: this thread's two rows
#pragma unroll
  for (int i = 0; i < D / 2; ++i) dk[i] = dv[i] = 0.f;
  float st[kBQ / 2], dpt[kBQ / 2], dq[32];  // Sᵀ, dPᵀ [64 keys, 64 queries]; dQ [64, 64]
  uint32_t pf[kSteps][4], dsf[kSteps][4];   // Pᵀ, dSᵀ as A fragments

  // acc = (this consumer's 64 rows of a key-side tile, K or V) · (a query-side tile, Q or dO)ᵀ,
  // issued only: [64 keys, 64 queries], both operands K-major in shared memory.
  const auto issue_key_by_query = [&](float(&acc)[kBQ / 2], uint32_t key_tile,
                                      uint32_t query_tile) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t panel = kk / 4, step_bytes = (kk % 4) * 32;
      Mma::ss_n64(acc,
                  dev::kmajor_descriptor(key_tile + panel * Shape::kKeyPanelBytes +
                                         uint32_t(wg) * 64 * dev::kPanelRowBytes + step_bytes),
                  dev::kmajor_descriptor(query_tile + panel * Shape::kQueryPanelBytes + step_bytes),
                  kk > 0 ? 1u : 0u);
    }
  };

  if (steps > 0) dev::mbarrier_wait(sm.kv_full(), 0);
  for (int64_t step = 0; step < steps; ++step) {
    const int s = int(step % kStages);
    const uint32_t phase = uint32_t(step / kStages) & 1u;
    const int h = kvh * heads_per_kv + int(step / tiles_per_head);
    int64_t qb;
    uint8_t kind;
    cursor.at(p.tiles, mk, kb, cursor.begin + step % tiles_per_head, false, qb, kind);
    const int64_t q0 = qb * kBQ;
    // lse₂ and delta of the step's 64 query rows ([B, H, n_pad], padded rows lse₂ = +inf).
    const int64_t stat_row = (int64_t(b) * p.heads + h) * n_pad + q0;
    // This thread's query columns are 8c + 2t and 8c + 2t + 1: one float2 per c, loaded before
    // the products so that the loads' latency hides behind them.
    float2 lse2[kBQ / 8], delta[kBQ / 8];
#pragma unroll
    for (int c = 0; c < kBQ / 8; ++c)
      lse2[c] = *reinterpret_cast<const float2*>(p.lse + stat_row + 8 * c + 2 * t);

    // Sᵀ and dPᵀ, issued together; Pᵀ is formed while dPᵀ is still running.
    dev::mbarrier_wait(sm.q_full(s), phase);
    dev::fence_registers(st);
    dev::fence_registers(dpt);
    dev::wgmma_fence();
    issue_key_by_query(st, sm.k, sm.q_tile(s));
    dev::wgmma_commit();
    dev::mbarrier_wait(sm.do_full(s), phase);
    dev::wgmma_fence();
    issue_key_by_query(dpt, sm.v, sm.do_tile(s));
    dev::wgmma_commit();
    dev::wgmma_wait<1>();
    dev::fence_registers(st);

    // Pᵀ: st[4c + e] is key row key_row0 + 8·(e >> 1), query column 8c + 2t + (e & 1).
    const bool need_mask = kind == kTilePartial || q0 + kBQ > mk.n || k0 + kBK > mk.m;
    uint32_t visible_bits = ~0u;
    if (need_mask) {  // rolled: see the forward kernels
      visible_bits = 0;
#pragma unroll 1
      for (int e = 0; e < kBQ / 2; ++e) {
        const int64_t i = q0 + (e >> 2) * 8 + 2 * t + (e & 1);
        const int64_t j = k0 + key_row0 + 8 * ((e >> 1) & 1);
        if (i < mk.n && j < mk.m && mk.visible(b, i, j)) visible_bits |= 1u << e;
      }
    }
#pragma unroll
    for (int e = 0; e < kBQ / 2; ++e) {
      const float l2 = (e & 1) ? lse2[e >> 2].y : lse2[e >> 2].x;
      const float pr = dev::fast_exp2(fmaf(st[e], p.scale_log2, -l2));
      st[e] = (visible_bits >> e) & 1u ? pr : 0.f;
    }
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      pf[kk][0] = dev::Elem<T>::pack(st[8 * kk + 0], st[8 * kk + 1]);
      pf[kk][1] = dev::Elem<T>::pack(st[8 * kk + 2], st[8 * kk + 3]);
      pf[kk][2] = dev::Elem<T>::pack(st[8 * kk + 4], st[8 * kk + 5]);
      pf[kk][3] = dev::Elem<T>::pack(st[8 * kk + 6], st[8 * kk + 7]);
    }

    // delta, loaded while dPᵀ may still be running (after Sᵀ's registers are free).
#pragma unroll
    for (int c = 0; c < kBQ / 8; ++c)
      delta[c] = *reinterpret_cast<const float2*>(p.delta + stat_row + 8 * c + 2 * t);

    // dSᵀ = Pᵀ ∘ (dPᵀ − delta), with P as rounded for the dV product (the same P on both paths);
    // stored to shared memory ([key][query], 128-byte swizzled) for the dQ product.
    dev::wgmma_wait<0>();
    dev::fence_registers(dpt);
    const uint32_t ds_tile = sm.ds_tile(int(step & 1));
    T* ds_ptr = reinterpret_cast<T*>(generic(ds_tile));
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk)
#pragma unroll
      for (int f = 0; f < 4; ++f) {
        // Fragment f of k-step kk: query columns 16·kk + 8·(f >> 1) + 2t, key row +8·(f & 1).
        const int c = 2 * kk + (f >> 1), e0 = 2 * (f & 1);
        const int qi = 8 * c + 2 * t;
        const float2 pv = dev::Elem<T>::unpack(pf[kk][f]);
        const float d0 = delta[c].x, d1 = delta[c].y;
        dsf[kk][f] =
            dev::Elem<T>::pack(pv.x * (dpt[4 * c + e0] - d0), pv.y * (dpt[4 * c + e0 + 1] - d1));
        const int key = key_row0 + 8 * (f & 1);
        *reinterpret_cast<uint32_t*>(ds_ptr + dev::swizzled<kBQ>(key, qi)) = dsf[kk][f];
      }
    dev::fence_proxy_async();  // dSᵀ stores → the dQ wgmma of both consumers

    // dV += Pᵀ·dO and dK += dSᵀ·Q (B operands N-major: [query rows][D]).
    dev::fence_registers(dv);
    dev::fence_registers(dk);
    dev::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk)
      Mma::rs_n128(dv, pf[kk],
                   dev::nmajor_descriptor(sm.do_tile(s) + kk * 16 * dev::kPanelRowBytes,
                                          Shape::kQueryPanelBytes));
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk)
      Mma::rs_n128(dk, dsf[kk],
                   dev::nmajor_descriptor(sm.q_tile(s) + kk * 16 * dev::kPanelRowBytes,
                                          Shape::kQueryPanelBytes));
    dev::wgmma_commit();

    // dQ[:, 64·wg ..] += dS·K[:, 64·wg ..] once both consumers' dSᵀ are in shared memory.
    dev::named_barrier_sync(1, 128 * Shape::kConsumers);
    dev::fence_registers(dq);
    dev::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)
      Mma::ss_n64_tt(
          dq, dev::nmajor_descriptor(ds_tile + kk * 16 * dev::kPanelRowBytes, 0),
          dev::nmajor_descriptor(
              sm.k + uint32_t(wg) * Shape::kKeyPanelBytes + kk * 16 * dev::kPanelRowBytes, 0),
          kk > 0 ? 1u : 0u);
    dev::wgmma_commit();
    dev::wgmma_wait<0>();
    dev::fence_registers(dq);
    dev::fence_registers(dv);
    dev::fence_registers(dk);
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      dev::fence_registers(pf[kk]);
      dev::fence_registers(dsf[kk]);
    }
    if (warp_leader) dev::mbarrier_arrive(sm.empty(s));

    // dq holds query rows 16·warp + g (+8), D columns 64·wg + 8c + 2t (+1).
    float* dq_rows = p.dq_accum + (int64_t(b) * p.heads + h) * mk.n * D + wg * 64;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = q0 + warp_in_group * 16 + g + 8 * r;
      if (i >= mk.n) continue;
      float* row = dq_rows + i * D;
#pragma unroll
      for (int c = 0; c < 8; ++c)
        atomicAdd(reinterpret_cast<float2*>(row + 8 * c + 2 * t),
                  make_float2(dq[4 * c + 2 * r], dq[4 * c + 2 * r + 1]));
    }
  }

  // dK (scaled) and dV of this thread's two key rows.
  T* dk_base = static_cast<T*>(p.dk) + b * p.dk_stride[0] + kvh * p.dk_stride[2];
  T* dv_base = static_cast<T*>(p.dv) + b * p.dv_stride[0] + kvh * p.dv_stride[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t j = k0 + key_row0 + 8 * r;
    if (j >= mk.m) continue;
    T* dk_row = dk_base + j * p.dk_stride[1];
    T* dv_row = dv_base + j * p.dv_stride[1];
#pragma unroll
    for (int c = 0; c < D / 8; ++c) {
      *reinterpret_cast<uint32_t*>(dk_row + 8 * c + 2 * t) =
          dev::Elem<T>::pack(dk[4 * c + 2 * r] * p.scale, dk[4 * c + 2 * r + 1] * p.scale);
      *reinterpret_cast<uint32_t*>(dv_row + 8 * c + 2 * t) =
          dev::Elem<T>::pack(dv[4 * c + 2 * r], dv[4 * c + 2 * r + 1]);
    }
  }
}

// The whole backward with the wgmma kernel: preprocess, dK/dV/dQ, dQ conversion (the first and
// last kernels are backward_kernel.cuh's). p.tiles must use kWgmmaBackward{Key,Query}Rows.
template <typename T, int D>
cudaError_t launch_wgmma_backward(const WgmmaBackwardParams& wp, const ForwardOutputs& fo,
                                  const float* lse, const int64_t (&lse_stride)[3], void* dq,
                                  const int64_t (&dq_stride)[3], cudaStream_t stream) {
  using Shape = WgmmaBackwardShape<D>;
  const BackwardParams& p = wp.p;
  cudaError_t err = launch_backward_preprocess<T, D>(p, fo, lse, lse_stride, Shape::kBQ, stream);
  if (err != cudaSuccess) return err;
  void (*kernel)(WgmmaBackwardParams) = wgmma_backward_kernel<T, D>;
  err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Shape::kSmemBytes);
  if (err != cudaSuccess) return err;
  const dim3 grid(unsigned(p.tiles.outer_blocks), unsigned(p.kv_heads), unsigned(p.batch));
  kernel<<<grid, Shape::kThreads, Shape::kSmemBytes, stream>>>(wp);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  return launch_backward_convert_dq<T, D>(p, dq, dq_stride, stream);
}

}  // namespace longctx::cuda
