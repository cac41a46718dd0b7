// FlashAttention-2 backward on tensor cores (mma.sync m16n8k16, fp32 accumulators).
//
// One CTA owns kBK = 16·kWarps key rows of one (batch, KV head); K and V stay in shared memory,
// and it walks every query block (kBQ rows) that sees them, for each query head of the KV group,
// with Q, dO, the base-2 LSE and delta = rowsum(dO ∘ O) streaming through a two-stage cp.async
// pipeline. Each warp owns 16 key rows and works on transposed blocks so that everything it
// accumulates stays in registers:
//   Sᵀ = K·Qᵀ,  Pᵀ = 2^(Sᵀ·scale·log2 e − lse₂),  dPᵀ = V·dOᵀ,  dSᵀ = Pᵀ ∘ (dPᵀ − delta)
//   dV += Pᵀ·dO,  dK += dSᵀ·Q   (register accumulators; GQA heads summed in the same registers)
//   dQ += dS·K                  (dSᵀ goes through shared memory; fp32 atomics into dq_accum)
// dK is scaled by the softmax scale at the end, dQ in the conversion kernel.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "device_primitives.cuh"
#include "forward_kernel.cuh"
#include "kernel_params.hpp"
#include "tile_schedule.cuh"

namespace longctx::cuda {

template <int D>
struct BackwardShape {
  static constexpr int kWarps = 8;
  static constexpr int kBK = kWarps * 16;  // key rows per CTA
  static constexpr int kBQ = 64;           // query rows per step
  static constexpr int kThreads = kWarps * 32;
  template <typename T>
  static constexpr int smem_bytes() {
    // K, V; two stages of Q and dO; dSᵀ; two stages of lse₂ and delta.
    return (2 * kBK * D + 4 * kBQ * D + kBK * kBQ) * int(sizeof(T)) + 4 * kBQ * int(sizeof(float));
  }
};

namespace dev {

// Copies kRows contiguous floats (16-byte aligned, always in range) into shared memory.
template <int kRows, int kThreads>
__device__ __forceinline__ void load_floats_async(float* dst, const float* src) {
  for (int c = threadIdx.x; c < kRows / 4; c += kThreads)
    cp_async_16(smem_addr(dst + 4 * c), src + 4 * c, true);
}

}  // namespace dev

template <typename T, int D>
__global__ void __launch_bounds__(BackwardShape<D>::kThreads)
    backward_kernel(const BackwardParams p) {
  using Shape = BackwardShape<D>;
  constexpr int kBK = Shape::kBK, kBQ = Shape::kBQ, kThreads = Shape::kThreads;
  constexpr int kNT = kBQ / 8;  // n-tiles of a transposed score block (query columns)
  constexpr int kDT = D / 8;
  static_assert(Shape::kWarps == 8 && kBQ == 64, "the dQ product splits 8 warps as 4 × 2");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_k = reinterpret_cast<T*>(smem_raw);                    // [kBK][D]
  T* s_v = s_k + kBK * D;                                     // [kBK][D]
  T* s_q = s_v + kBK * D;                                     // [2][kBQ][D]
  T* s_do = s_q + 2 * kBQ * D;                                // [2][kBQ][D]
  T* s_ds = s_do + 2 * kBQ * D;                               // [kBK][kBQ]  dSᵀ
  float* s_lse = reinterpret_cast<float*>(s_ds + kBK * kBQ);  // [2][kBQ]
  float* s_delta = s_lse + 2 * kBQ;                           // [2][kBQ]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;
  const int64_t kb = blockIdx.x;
  const int kvh = blockIdx.y, b = blockIdx.z;
  const int group = p.heads / p.kv_heads;
  const DeviceMask& mk = p.mask;
  const int64_t k0 = kb * kBK;
  const int64_t n_pad = p.tiles.inner_blocks * kBQ;  // row stride of lse₂ / delta

  const T* k_base = static_cast<const T*>(p.k) + b * p.k_stride[0] + kvh * p.k_stride[2];
  const T* v_base = static_cast<const T*>(p.v) + b * p.v_stride[0] + kvh * p.v_stride[2];
  dev::load_tile_async<T, D, kThreads>(s_k, k_base, p.k_stride[1], k0, kBK, mk.m);
  dev::load_tile_async<T, D, kThreads>(s_v, v_base, p.v_stride[1], k0, kBK, mk.m);

  dev::TileCursor cursor;
  cursor.init(p.tiles, mk, b, kb, /*outer_is_query=*/false);
  const int64_t tiles_per_head = cursor.end - cursor.begin;
  const int64_t steps = tiles_per_head * group;

  // Step s: query head kvh·group + s / tiles_per_head, query block at cursor position
  // begin + s % tiles_per_head.
  auto prefetch = [&](int64_t step, int stage) {
    const int h = kvh * group + int(step / tiles_per_head);
    int64_t qb;
    uint8_t kind;
    cursor.at(p.tiles, mk, kb, cursor.begin + step % tiles_per_head, false, qb, kind);
    const T* q_base = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[2];
    const T* do_base = static_cast<const T*>(p.dout) + b * p.dout_stride[0] + h * p.dout_stride[2];
    dev::load_tile_async<T, D, kThreads>(s_q + stage * kBQ * D, q_base, p.q_stride[1], qb * kBQ,
                                         kBQ, mk.n);
    dev::load_tile_async<T, D, kThreads>(s_do + stage * kBQ * D, do_base, p.dout_stride[1],
                                         qb * kBQ, kBQ, mk.n);
    const int64_t row0 = (int64_t(b) * p.heads + h) * n_pad + qb * kBQ;
    dev::load_floats_async<kBQ, kThreads>(s_lse + stage * kBQ, p.lse + row0);
    dev::load_floats_async<kBQ, kThreads>(s_delta + stage * kBQ, p.delta + row0);
  };
  if (steps > 0) prefetch(0, 0);
  dev::cp_async_commit();

  float dk[kDT][4], dv[kDT][4];  // this warp's 16 key rows × D
#pragma unroll
  for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
    for (int c = 0; c < 4; ++c) dk[dt][c] = dv[dt][c] = 0.f;
  const int kr = warp * 16;  // this warp's first key row in the tile

  for (int64_t step = 0; step < steps; ++step) {
    const int stage = int(step & 1);
    const int h = kvh * group + int(step / tiles_per_head);
    int64_t qb;
    uint8_t kind;
    cursor.at(p.tiles, mk, kb, cursor.begin + step % tiles_per_head, false, qb, kind);
    if (step + 1 < steps) prefetch(step + 1, stage ^ 1);
    dev::cp_async_commit();
    dev::cp_async_wait<1>();
    __syncthreads();
    const T* q_tile = s_q + stage * kBQ * D;
    const T* do_tile = s_do + stage * kBQ * D;
    const float* lse2 = s_lse + stage * kBQ;
    const float* delta = s_delta + stage * kBQ;
    const int64_t q0 = qb * kBQ;

    // Sᵀ = K·Qᵀ: [16, kBQ] per warp, then Pᵀ (masked where needed) packed as A fragments.
    // The products run one after another so that at most one fp32 block is live beside the
    // dK/dV accumulators (both at once spill at D = 128).
    const bool need_mask = kind == kTilePartial || q0 + kBQ > mk.n || k0 + kBK > mk.m;
    const int a_row = kr + (lane & 15);
    uint32_t pa[kBQ / 16][4];
    {
      float s[kNT][4];
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[nt][c] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t ak[4];
        dev::ldmatrix_x4(ak,
                         dev::smem_addr(s_k + dev::swizzled<D>(a_row, kk * 16 + (lane >> 4) * 8)));
#pragma unroll
        for (int nt = 0; nt < kNT; nt += 2) {
          uint32_t bq[4];
          dev::ldmatrix_x4(
              bq, dev::smem_addr(q_tile + dev::swizzled<D>(nt * 8 + (lane & 7) + ((lane >> 4) << 3),
                                                           kk * 16 + ((lane >> 3) & 1) * 8)));
          dev::mma_16816<T>(s[nt], ak, bq[0], bq[1]);
          dev::mma_16816<T>(s[nt + 1], ak, bq[2], bq[3]);
        }
      }
      // Visibility bits (nt, c) -> 4·nt + c from a rolled loop (see the forward kernel).
      uint32_t visible_bits = ~0u;
      if (need_mask) {
        visible_bits = 0;
#pragma unroll 1
        for (int e = 0; e < 4 * kNT; ++e) {
          const int64_t i = q0 + (e >> 2) * 8 + 2 * t + (e & 1);
          const int64_t j = k0 + kr + g + 8 * ((e >> 1) & 1);
          if (i < mk.n && j < mk.m && mk.visible(b, i, j)) visible_bits |= 1u << e;
        }
      }
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int qi = nt * 8 + 2 * t + (c & 1);
          s[nt][c] = dev::fast_exp2(fmaf(s[nt][c], p.scale_log2, -lse2[qi]));
        }
      // Masked probabilities are zeroed in a pass that full tiles skip (as in the forward).
      if (need_mask) {
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int c = 0; c < 4; ++c)
            if (!((visible_bits >> (4 * nt + c)) & 1u)) s[nt][c] = 0.f;
      }
#pragma unroll
      for (int kk = 0; kk < kBQ / 16; ++kk) {
        pa[kk][0] = dev::Elem<T>::pack(s[2 * kk][0], s[2 * kk][1]);
        pa[kk][1] = dev::Elem<T>::pack(s[2 * kk][2], s[2 * kk][3]);
        pa[kk][2] = dev::Elem<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[kk][3] = dev::Elem<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      }
    }

    // dV += Pᵀ·dO.
#pragma unroll
    for (int kk = 0; kk < kBQ / 16; ++kk)
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        uint32_t bd[4];
        dev::ldmatrix_x4_trans(
            bd, dev::smem_addr(do_tile +
                               dev::swizzled<D>(kk * 16 + (lane & 15), dt * 8 + (lane >> 4) * 8)));
        dev::mma_16816<T>(dv[dt], pa[kk], bd[0], bd[1]);
        dev::mma_16816<T>(dv[dt + 1], pa[kk], bd[2], bd[3]);
      }

    // dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ∘ (dPᵀ − delta) (P as rounded for the dV product: the same P on
    // both paths), packed as A fragments and stored to shared memory for the dQ product.
    uint32_t dsa[kBQ / 16][4];
    {
      float dp[kNT][4];
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) dp[nt][c] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t av[4];
        dev::ldmatrix_x4(av,
                         dev::smem_addr(s_v + dev::swizzled<D>(a_row, kk * 16 + (lane >> 4) * 8)));
#pragma unroll
        for (int nt = 0; nt < kNT; nt += 2) {
          uint32_t bd[4];
          dev::ldmatrix_x4(
              bd,
              dev::smem_addr(do_tile + dev::swizzled<D>(nt * 8 + (lane & 7) + ((lane >> 4) << 3),
                                                        kk * 16 + ((lane >> 3) & 1) * 8)));
          dev::mma_16816<T>(dp[nt], av, bd[0], bd[1]);
          dev::mma_16816<T>(dp[nt + 1], av, bd[2], bd[3]);
        }
      }
#pragma unroll
      for (int kk = 0; kk < kBQ / 16; ++kk)
#pragma unroll
        for (int f = 0; f < 4; ++f) {
          // Fragment f of k-step kk holds n-tile 2·kk + f / 2, rows g (+8 when f is odd).
          const int nt = 2 * kk + f / 2, c0 = (f & 1) * 2;
          const float2 pv = dev::Elem<T>::unpack(pa[kk][f]);
          const int qi = nt * 8 + 2 * t;
          dsa[kk][f] = dev::Elem<T>::pack(pv.x * (dp[nt][c0] - delta[qi]),
                                          pv.y * (dp[nt][c0 + 1] - delta[qi + 1]));
        }
    }
#pragma unroll
    for (int kk = 0; kk < kBQ / 16; ++kk)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int col = kk * 16 + half * 8 + 2 * t;
        *reinterpret_cast<uint32_t*>(s_ds + dev::swizzled<kBQ>(kr + g, col)) = dsa[kk][2 * half];
        *reinterpret_cast<uint32_t*>(s_ds + dev::swizzled<kBQ>(kr + g + 8, col)) =
            dsa[kk][2 * half + 1];
      }

      // dK += dSᵀ·Q.
#pragma unroll
    for (int kk = 0; kk < kBQ / 16; ++kk)
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        uint32_t bq[4];
        dev::ldmatrix_x4_trans(
            bq, dev::smem_addr(q_tile +
                               dev::swizzled<D>(kk * 16 + (lane & 15), dt * 8 + (lane >> 4) * 8)));
        dev::mma_16816<T>(dk[dt], dsa[kk], bq[0], bq[1]);
        dev::mma_16816<T>(dk[dt + 1], dsa[kk], bq[2], bq[3]);
      }
    __syncthreads();  // dSᵀ of every warp is in shared memory

    // dQ[kBQ, D] += dS·K: warp w takes query rows 16·(w % 4) and head-dim half w / 4.
    {
      constexpr int kHalfDT = kDT / 2;
      const int qr = (warp % 4) * 16, dcol0 = (warp / 4) * (D / 2);
      float dq[kHalfDT][4];
#pragma unroll
      for (int dt = 0; dt < kHalfDT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) dq[dt][c] = 0.f;
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) {
        uint32_t a[4];
        dev::ldmatrix_x4_trans(
            a, dev::smem_addr(s_ds + dev::swizzled<kBQ>(kk * 16 + (lane & 7) + ((lane >> 4) << 3),
                                                        qr + ((lane >> 3) & 1) * 8)));
#pragma unroll
        for (int dt = 0; dt < kHalfDT; dt += 2) {
          uint32_t bk[4];
          dev::ldmatrix_x4_trans(
              bk, dev::smem_addr(s_k + dev::swizzled<D>(kk * 16 + (lane & 15),
                                                        dcol0 + dt * 8 + (lane >> 4) * 8)));
          dev::mma_16816<T>(dq[dt], a, bk[0], bk[1]);
          dev::mma_16816<T>(dq[dt + 1], a, bk[2], bk[3]);
        }
      }
      float* dq_rows = p.dq_accum + (int64_t(b) * p.heads + h) * mk.n * D;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t i = q0 + qr + g + 8 * r;
        if (i >= mk.n) continue;
        float* row = dq_rows + i * D + dcol0;
#pragma unroll
        for (int dt = 0; dt < kHalfDT; ++dt) {
          // One vector atomic per pair (sm_90 has float2 atomicAdd on global memory): half
          // the atomics, and fewer stalls on the load/store queue.
          atomicAdd(reinterpret_cast<float2*>(row + dt * 8 + 2 * t),
                    make_float2(dq[dt][2 * r], dq[dt][2 * r + 1]));
        }
      }
    }
    __syncthreads();  // before the next step overwrites dSᵀ and this stage
  }
  dev::cp_async_wait<0>();

  // dK (scaled) and dV of this warp's rows.
  T* dk_base = static_cast<T*>(p.dk) + b * p.dk_stride[0] + kvh * p.dk_stride[2];
  T* dv_base = static_cast<T*>(p.dv) + b * p.dv_stride[0] + kvh * p.dv_stride[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t j = k0 + kr + g + 8 * r;
    if (j >= mk.m) continue;
    T* dk_row = dk_base + j * p.dk_stride[1];
    T* dv_row = dv_base + j * p.dv_stride[1];
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt) {
      *reinterpret_cast<uint32_t*>(dk_row + dt * 8 + 2 * t) =
          dev::Elem<T>::pack(dk[dt][2 * r] * p.scale, dk[dt][2 * r + 1] * p.scale);
      *reinterpret_cast<uint32_t*>(dv_row + dt * 8 + 2 * t) =
          dev::Elem<T>::pack(dv[dt][2 * r], dv[dt][2 * r + 1]);
    }
  }
}

// delta = rowsum(dO ∘ O) and lse₂ = lse·log2 e (+inf for rows that see nothing, so P = 0), both
// [B, H, n_pad] contiguous with the padding rows at lse₂ = +inf, delta = 0. One warp per row.
template <typename T, int D>
__global__ void backward_preprocess_kernel(const T* out, int64_t os0, int64_t os1, int64_t os2,
                                           const T* dout, int64_t ds0, int64_t ds1, int64_t ds2,
                                           const float* lse, int64_t ls0, int64_t ls1, int64_t ls2,
                                           float* lse2, float* delta, int heads, int64_t n,
                                           int64_t n_pad, int64_t rows_total) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows_total) return;
  const int64_t i = row % n_pad;
  const int64_t bh = row / n_pad;
  const int h = int(bh % heads);
  const int64_t b = bh / heads;
  float d = 0.f;
  if (i < n) {
    const T* o = out + b * os0 + i * os1 + h * os2;
    const T* g = dout + b * ds0 + i * ds1 + h * ds2;
    for (int c = lane; c < D; c += 32)
      d += dev::Elem<T>::to_float(o[c]) * dev::Elem<T>::to_float(g[c]);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
  if (lane == 0) {
    delta[row] = d;
    float l2 = INFINITY;
    if (i < n) {
      const float l = lse[b * ls0 + h * ls1 + i * ls2];
      if (l != -INFINITY) l2 = l * 1.4426950408889634f;
    }
    lse2[row] = l2;
  }
}

// dq[b, i, h, :] = scale · dq_accum[b, h, i, :], converted to the storage dtype.
template <typename T, int D>
__global__ void backward_convert_dq_kernel(const float* dq_accum, T* dq, int64_t s0, int64_t s1,
                                           int64_t s2, int heads, int64_t n, float scale) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // one pair of elements
  const int64_t b = blockIdx.y;
  if (idx >= int64_t(heads) * n * (D / 2)) return;
  const int c2 = int(idx % (D / 2));
  const int64_t hi = idx / (D / 2);
  const int64_t i = hi % n;
  const int h = int(hi / n);
  const float* src = dq_accum + ((b * heads + h) * n + i) * D + 2 * c2;
  *reinterpret_cast<uint32_t*>(dq + b * s0 + i * s1 + h * s2 + 2 * c2) =
      dev::Elem<T>::pack(src[0] * scale, src[1] * scale);
}

// delta, lse₂ ([B, H, n_pad], n_pad = inner blocks × block_q) and a zeroed dq_accum.
template <typename T, int D>
cudaError_t launch_backward_preprocess(const BackwardParams& p, const ForwardOutputs& fo,
                                       const float* lse, const int64_t (&lse_stride)[3],
                                       int block_q, cudaStream_t stream) {
  const int64_t n = p.mask.n, n_pad = p.tiles.inner_blocks * block_q;
  const int64_t rows_total = int64_t(p.batch) * p.heads * n_pad;
  constexpr int kRowsPerBlock = 8;
  backward_preprocess_kernel<T, D><<<unsigned((rows_total + kRowsPerBlock - 1) / kRowsPerBlock),
                                     kRowsPerBlock * 32, 0, stream>>>(
      static_cast<const T*>(fo.out), fo.out_stride[0], fo.out_stride[1], fo.out_stride[2],
      static_cast<const T*>(p.dout), p.dout_stride[0], p.dout_stride[1], p.dout_stride[2], lse,
      lse_stride[0], lse_stride[1], lse_stride[2], const_cast<float*>(p.lse),
      const_cast<float*>(p.delta), p.heads, n, n_pad, rows_total);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  return cudaMemsetAsync(p.dq_accum, 0, size_t(p.batch) * p.heads * n * D * sizeof(float), stream);
}

// dq = scale · dq_accum in the storage dtype.
template <typename T, int D>
cudaError_t launch_backward_convert_dq(const BackwardParams& p, void* dq,
                                       const int64_t (&dq_stride)[3], cudaStream_t stream) {
  const int64_t n = p.mask.n;
  const int64_t pairs = int64_t(p.heads) * n * (D / 2);
  constexpr int kThreads = 256;
  const dim3 cgrid(unsigned((pairs + kThreads - 1) / kThreads), unsigned(p.batch));
  backward_convert_dq_kernel<T, D>
      <<<cgrid, kThreads, 0, stream>>>(p.dq_accum, static_cast<T*>(dq), dq_stride[0], dq_stride[1],
                                       dq_stride[2], p.heads, n, p.scale);
  return cudaGetLastError();
}

// Host-side launch of the whole backward of one (dtype, head dim) instantiation: preprocess,
// the dK/dV/dQ kernel, the dQ conversion. p.lse / p.delta / p.dq_accum point at the caller's
// workspace ([B, H, n_pad], [B, H, n_pad], [B, H, N, D] fp32); `lse` is the forward's strided
// LSE [B, H, N] with strides lse_stride (b, head, row); dq [B, N, H, D] with dq_stride.
template <typename T, int D>
cudaError_t launch_backward(const BackwardParams& p, const ForwardOutputs& fo, const float* lse,
                            const int64_t (&lse_stride)[3], void* dq, const int64_t (&dq_stride)[3],
                            cudaStream_t stream) {
  using Shape = BackwardShape<D>;
  cudaError_t err = launch_backward_preprocess<T, D>(p, fo, lse, lse_stride, Shape::kBQ, stream);
  if (err != cudaSuccess) return err;
  constexpr int smem = Shape::template smem_bytes<T>();
  err = cudaFuncSetAttribute(backward_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             smem);
  if (err != cudaSuccess) return err;
  const dim3 grid(unsigned(p.tiles.outer_blocks), unsigned(p.kv_heads), unsigned(p.batch));
  backward_kernel<T, D><<<grid, Shape::kThreads, smem, stream>>>(p);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  return launch_backward_convert_dq<T, D>(p, dq, dq_stride, stream);
}

}  // namespace longctx::cuda
