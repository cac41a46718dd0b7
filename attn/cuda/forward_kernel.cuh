// FlashAttention-2 forward on tensor cores (mma.sync m16n8k16, fp32 accumulators).
//
// One CTA computes a block of kBQ query rows of one (batch, head): the Q tile stays in shared
// memory, K/V tiles of kBK rows stream through a two-stage cp.async pipeline, every warp owns
// 16·kMT query rows and keeps its scores S, its running max / sum and its output accumulator in
// registers. Scores are kept in base 2 (scale·log2 e folded in) so each exponential is one ex2.
// Empty tiles are never visited; full tiles skip the mask predicate (see tile_schedule.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "device_primitives.cuh"
#include "kernel_params.hpp"
#include "tile_schedule.cuh"

namespace longctx::cuda {

// A tile configuration: kWarps warps of 16·kMT query rows each, key blocks of kBK rows.
template <int D, int kWarpsT, int kMTT, int kBKT>
struct ForwardTile {
  static constexpr int kWarps = kWarpsT;
  static constexpr int kMT = kMTT;  // m16 tiles per warp: each K/V fragment feeds kMT products
  static constexpr int kBQ = kWarps * 16 * kMT;
  static constexpr int kBK = kBKT;
  static constexpr int kThreads = kWarps * 32;
  template <typename T>
  static constexpr int smem_bytes() {
    return (kBQ * D + 4 * kBK * D) * int(sizeof(T));  // Q + two stages of K and V
  }
};

namespace dev {

// Copies rows [r0, r0 + rows) of a strided [rows, D] matrix into a swizzled shared tile;
// rows at or past `limit` are zero-filled.
template <typename T, int D, int kThreads>
__device__ __forceinline__ void load_tile_async(T* dst, const T* base, int64_t row_stride,
                                                int64_t r0, int rows, int64_t limit) {
  constexpr int kChunks = D / 8;
  for (int c = threadIdx.x; c < rows * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const int64_t gr = r0 + r;
    const bool valid = gr < limit;
    const T* src = base + (valid ? gr : 0) * row_stride + ch * 8;
    cp_async_16(smem_addr(dst + swizzled<D>(r, ch * 8)), src, valid);
  }
}

}  // namespace dev

// The per-warp steps of a key tile. A warp owns
// query rows [warp_row0, warp_row0 + 16·kMT) of the CTA's block; fragments follow mma.m16n8k16.
template <typename T, int D, class Shape>
struct ForwardWarp {
  static constexpr int kMT = Shape::kMT, kBK = Shape::kBK;
  static constexpr int kNT = kBK / 8;  // n-tiles of the score block
  static constexpr int kDT = D / 8;    // n-tiles of the output block
  using Scores = float[kMT][kNT][4];   // [16·kMT, kBK] of this warp
  using Output = float[kMT][kDT][4];   // [16·kMT, D] of this warp

  // s = Q·Kᵀ for this warp's rows against a key tile in shared memory.
  static __device__ __forceinline__ void scores(Scores& s, const T* s_q, const T* k_tile,
                                                int warp_row0, int lane) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[mt][nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
        dev::ldmatrix_x4(a[mt],
                         dev::smem_addr(s_q + dev::swizzled<D>(warp_row0 + mt * 16 + (lane & 15),
                                                               kk * 16 + (lane >> 4) * 8)));
#pragma unroll
      for (int nt = 0; nt < kNT; nt += 2) {
        uint32_t bf[4];
        dev::ldmatrix_x4(
            bf, dev::smem_addr(k_tile + dev::swizzled<D>(nt * 8 + (lane & 7) + ((lane >> 4) << 3),
                                                         kk * 16 + ((lane >> 3) & 1) * 8)));
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          dev::mma_16816<T>(s[mt][nt], a[mt], bf[0], bf[1]);
          dev::mma_16816<T>(s[mt][nt + 1], a[mt], bf[2], bf[3]);
        }
      }
    }
  }

  // Masked scores become −inf. Only partial or ragged tiles come here: a per-element bit test
  // in the softmax would cost every tile three more instructions per score, and that loop is
  // issue-bound. Visibility of this thread's 4·kNT scores of an m-tile is first gathered as bits
  // (r, nt, c) -> 4·nt + 2·r + c by a rolled loop: unrolled predicate code bloats the loop body
  // past the instruction cache (Nsight Compute showed "no instruction" as the top stall).
  static __device__ __forceinline__ void mask(Scores& s, const DeviceMask& mk, int b, int64_t row0,
                                              int64_t k0, int g, int t) {
    static_assert(4 * kNT <= 32, "one 32-bit mask per m-tile");
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      uint32_t bits = 0;
      const int64_t i0 = row0 + mt * 16 + g;
#pragma unroll 1
      for (int e = 0; e < 4 * kNT; ++e) {
        const int64_t i = i0 + 8 * ((e >> 1) & 1);
        const int64_t j = k0 + (e >> 2) * 8 + 2 * t + (e & 1);
        if (i < mk.n && j < mk.m && mk.visible(b, i, j)) bits |= 1u << e;
      }
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c)
          if (!((bits >> (4 * nt + c)) & 1u)) s[mt][nt][c] = -INFINITY;
    }
  }

  // Online softmax per row on the raw scores: the max is taken before scaling (scale > 0), so
  // each probability is one FFMA + ex2: exp2(s·scale·log2 e − m); P overwrites S. The
  // accumulator is rescaled only when some row of the warp saw its maximum grow (after the
  // first tiles it rarely does): a skipped rescale has correction exactly 1.
  static __device__ __forceinline__ void softmax(Scores& s, float (&row_max)[kMT][2],
                                                 float (&row_sum)[kMT][2], Output& acc,
                                                 float scale_log2) {
    float correction[kMT][2];
    bool grew = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float raw_max = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) raw_max = fmaxf(raw_max, s[mt][nt][2 * r + c]);
        raw_max = dev::quad_max(raw_max);
        const float mx = fmaxf(row_max[mt][r], raw_max * scale_log2);
        const float m_use = mx == -INFINITY ? 0.f : mx;  // a row with nothing visible yet
        grew |= mx > row_max[mt][r];
        correction[mt][r] = dev::fast_exp2(row_max[mt][r] - m_use);
        row_max[mt][r] = mx;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const float e = dev::fast_exp2(fmaf(s[mt][nt][2 * r + c], scale_log2, -m_use));
            s[mt][nt][2 * r + c] = e;
            sum += e;
          }
        row_sum[mt][r] = row_sum[mt][r] * correction[mt][r] + sum;
      }
    }
    if (__any_sync(0xffffffffu, grew)) {
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          acc[mt][dt][0] *= correction[mt][0];
          acc[mt][dt][1] *= correction[mt][0];
          acc[mt][dt][2] *= correction[mt][1];
          acc[mt][dt][3] *= correction[mt][1];
        }
    }
  }

  // O += P·V, P packed into A fragments one k16 step at a time (fewer live registers).
  static __device__ __forceinline__ void accumulate(Output& acc, const Scores& s, const T* v_tile,
                                                    int lane) {
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t pa[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        pa[mt][0] = dev::Elem<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = dev::Elem<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = dev::Elem<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = dev::Elem<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        uint32_t bf[4];
        dev::ldmatrix_x4_trans(
            bf, dev::smem_addr(v_tile +
                               dev::swizzled<D>(kk * 16 + (lane & 15), dt * 8 + (lane >> 4) * 8)));
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          dev::mma_16816<T>(acc[mt][dt], pa[mt], bf[0], bf[1]);
          dev::mma_16816<T>(acc[mt][dt + 1], pa[mt], bf[2], bf[3]);
        }
      }
    }
  }

  // O = acc / l, LSE = (m + log2 l)·ln 2; rows that saw no key get O = 0, LSE = −inf.
  static __device__ __forceinline__ void store(const ForwardParams& p, int b, int h, int64_t row0,
                                               const Output& acc, const float (&row_max)[kMT][2],
                                               const float (&row_sum)[kMT][2], int g, int t) {
    T* out_base = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[2];
    float* lse_base = p.lse + b * p.lse_stride[0] + h * p.lse_stride[1];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t i = row0 + mt * 16 + g + 8 * r;
        const float l = dev::quad_sum(row_sum[mt][r]);
        if (i >= p.mask.n) continue;
        const float inv = l > 0.f ? 1.f / l : 0.f;
        T* row = out_base + i * p.out_stride[1];
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt)
          *reinterpret_cast<uint32_t*>(row + dt * 8 + 2 * t) =
              dev::Elem<T>::pack(acc[mt][dt][2 * r] * inv, acc[mt][dt][2 * r + 1] * inv);
        if (t == 0)
          lse_base[i * p.lse_stride[2]] =
              l > 0.f ? (row_max[mt][r] + log2f(l)) * 0.69314718055994531f : -INFINITY;
      }
  }
};

// One CTA's identity (thread, warp, query block, head, batch) and its tile cursor.
struct ForwardCta {
  int tid, warp, lane, g, t, h, b, kvh;
  int64_t qb, q0;
  dev::TileCursor cursor;
  template <class Shape>
  __device__ __forceinline__ void init(const ForwardParams& p) {
    tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    g = lane >> 2, t = lane & 3;
    qb = int64_t(gridDim.x) - 1 - blockIdx.x;  // late (heavier causal) blocks first
    h = blockIdx.y, b = blockIdx.z;
    kvh = h / (p.heads / p.kv_heads);
    q0 = qb * Shape::kBQ;
    cursor.init(p.tiles, p.mask, b, qb, /*outer_is_query=*/true);
  }
  // Key block index and kind of the cursor's tile `it`.
  __device__ __forceinline__ void tile(const ForwardParams& p, int64_t it, int64_t& kb,
                                       uint8_t& kind) const {
    cursor.at(p.tiles, p.mask, qb, it, true, kb, kind);
  }
};

template <typename T, int D, class Shape>
__global__ void __launch_bounds__(Shape::kThreads) forward_kernel(const ForwardParams p) {
  using Warp = ForwardWarp<T, D, Shape>;
  constexpr int kBQ = Shape::kBQ, kBK = Shape::kBK, kMT = Shape::kMT, kThreads = Shape::kThreads;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_q = reinterpret_cast<T*>(smem_raw);  // [kBQ][D]
  T* s_k = s_q + kBQ * D;                   // [2][kBK][D]
  T* s_v = s_k + 2 * kBK * D;               // [2][kBK][D]
  ForwardCta cta;
  cta.init<Shape>(p);
  const DeviceMask& mk = p.mask;
  const T* q_base = static_cast<const T*>(p.q) + cta.b * p.q_stride[0] + cta.h * p.q_stride[2];
  const T* k_base = static_cast<const T*>(p.k) + cta.b * p.k_stride[0] + cta.kvh * p.k_stride[2];
  const T* v_base = static_cast<const T*>(p.v) + cta.b * p.v_stride[0] + cta.kvh * p.v_stride[2];
  const int64_t begin = cta.cursor.begin, end = cta.cursor.end;

  dev::load_tile_async<T, D, kThreads>(s_q, q_base, p.q_stride[1], cta.q0, kBQ, mk.n);
  if (begin < end) {
    int64_t kb;
    uint8_t kind;
    cta.tile(p, begin, kb, kind);
    dev::load_tile_async<T, D, kThreads>(s_k, k_base, p.k_stride[1], kb * kBK, kBK, mk.m);
    dev::load_tile_async<T, D, kThreads>(s_v, v_base, p.v_stride[1], kb * kBK, kBK, mk.m);
  }
  dev::cp_async_commit();

  typename Warp::Output acc;
  float row_max[kMT][2], row_sum[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < Warp::kDT; ++dt)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[mt][dt][c] = 0.f;
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }
  const int warp_row0 = cta.warp * 16 * kMT;

  for (int64_t it = begin; it < end; ++it) {
    const int stage = int((it - begin) & 1);
    int64_t kb;
    uint8_t kind;
    cta.tile(p, it, kb, kind);
    if (it + 1 < end) {  // prefetch the next K/V tile into the other stage
      int64_t kb_next;
      uint8_t kind_next;
      cta.tile(p, it + 1, kb_next, kind_next);
      dev::load_tile_async<T, D, kThreads>(s_k + (stage ^ 1) * kBK * D, k_base, p.k_stride[1],
                                           kb_next * kBK, kBK, mk.m);
      dev::load_tile_async<T, D, kThreads>(s_v + (stage ^ 1) * kBK * D, v_base, p.v_stride[1],
                                           kb_next * kBK, kBK, mk.m);
    }
    dev::cp_async_commit();
    dev::cp_async_wait<1>();
    __syncthreads();
    typename Warp::Scores s;
    Warp::scores(s, s_q, s_k + stage * kBK * D, warp_row0, cta.lane);
    const int64_t k0 = kb * kBK;
    if (kind == kTilePartial || k0 + kBK > mk.m)
      Warp::mask(s, mk, cta.b, cta.q0 + warp_row0, k0, cta.g, cta.t);
    Warp::softmax(s, row_max, row_sum, acc, p.scale_log2);
    Warp::accumulate(acc, s, s_v + stage * kBK * D, cta.lane);
    __syncthreads();  // the next prefetch overwrites this stage
  }
  dev::cp_async_wait<0>();
  Warp::store(p, cta.b, cta.h, cta.q0 + warp_row0, acc, row_max, row_sum, cta.g, cta.t);
}

// Host-side launch of one (dtype, head dim, tile) instantiation.
template <typename T, int D, class Shape>
cudaError_t launch_forward_tile(const ForwardParams& p, cudaStream_t stream) {
  constexpr int smem = Shape::template smem_bytes<T>();
  void (*kernel)(ForwardParams) = forward_kernel<T, D, Shape>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  const dim3 grid(unsigned(p.tiles.outer_blocks), unsigned(p.heads), unsigned(p.batch));
  kernel<<<grid, Shape::kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

// The compiled tile configurations, by index (kernel_launch.hpp: forward_tile_count()).
// 0 (default, fastest measured on H100: 268–292 TF/s vs 238–262 for tile 2 at d = 128):
//   4 warps × 32 rows, 64-key blocks — each K/V fragment feeds two products;
// 1: 8 warps × 32 rows, 32-key blocks (256-row blocks: K/V read from global memory half as often);
// 2: 4 warps × 32 rows, 32-key blocks; 3: 8 warps × 16 rows, 64-key blocks.
template <int D>
using ForwardTile0 = ForwardTile<D, 4, 2, 64>;
template <int D>
using ForwardTile1 = ForwardTile<D, 8, 2, 32>;
template <int D>
using ForwardTile2 = ForwardTile<D, 4, 2, 32>;
template <int D>
using ForwardTile3 = ForwardTile<D, 8, 1, 64>;
constexpr int kForwardTiles = 4;

template <int D>
constexpr void forward_tile_blocks(int tile, int& block_q, int& block_k) {
  switch (tile) {
    case 1:
      block_q = ForwardTile1<D>::kBQ, block_k = ForwardTile1<D>::kBK;
      return;
    case 2:
      block_q = ForwardTile2<D>::kBQ, block_k = ForwardTile2<D>::kBK;
      return;
    case 3:
      block_q = ForwardTile3<D>::kBQ, block_k = ForwardTile3<D>::kBK;
      return;

    default:
      block_q = ForwardTile0<D>::kBQ, block_k = ForwardTile0<D>::kBK;
  }
}

template <typename T, int D>
cudaError_t launch_forward(const ForwardParams& p, int tile, cudaStream_t stream) {
  switch (tile) {
    case 1:
      return launch_forward_tile<T, D, ForwardTile1<D>>(p, stream);
    case 2:
      return launch_forward_tile<T, D, ForwardTile2<D>>(p, stream);
    case 3:
      return launch_forward_tile<T, D, ForwardTile3<D>>(p, stream);

    default:
      return launch_forward_tile<T, D, ForwardTile0<D>>(p, stream);
  }
}

}  // namespace longctx::cuda
