// Kernel parameters of the warp-specialised (TMA + wgmma) kernels: the common Forward- or
// BackwardParams plus one TMA descriptor per streamed input. Each descriptor views a [B, rows,
// heads, D] tensor as a 4-d TMA tensor whose dimension 0 is D and whose dimensions 1..3 are rows,
// heads and batch ordered by increasing stride (TMA wants that order); row_dim / head_dim /
// batch_dim say where each went. Boxes are 64 elements × box_rows rows of one head, written to
// shared memory 128-byte swizzled.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernel_params.hpp"

namespace longctx::cuda {

struct TmaTensor {
  CUtensorMap map;  // 64-byte aligned opaque descriptor
  int8_t row_dim = 1, head_dim = 2, batch_dim = 3;

#ifdef __CUDACC__
  // TMA coordinates of panel `panel` (64 elements of D) of rows from `row` of (batch b, head h).
  __device__ __forceinline__ void coords(int panel, int64_t row, int h, int b, int (&c)[4]) const {
    c[0] = panel * 64;
#pragma unroll
    for (int d = 1; d < 4; ++d) c[d] = d == row_dim ? int(row) : d == head_dim ? h : b;
  }
#endif
};

// Rows of the TMA boxes: the wgmma forward's query and key tiles, the wgmma backward's key tile
// (per CTA) and query tile (per step).
constexpr int kWgmmaForwardRows = 128;
constexpr int kWgmmaBackwardKeyRows = 128, kWgmmaBackwardQueryRows = 64;

struct WgmmaForwardParams {
  TmaTensor q, k, v;  // q: [B, N, H, D]; k, v: [B, M, G, D]
  ForwardParams p;
};

struct WgmmaBackwardParams {
  TmaTensor q, k, v, dout;  // boxes: q, dout kWgmmaBackwardQueryRows; k, v kWgmmaBackwardKeyRows
  BackwardParams p;
};

// Fills `t` (boxes of box_rows rows, at most 256) for a [batch, rows, heads, head_dim] tensor of
// 16-bit elements at `base` with element strides {batch, row, head} (unit stride along D). Returns
// false when the driver cannot describe the layout (the caller then uses the mma.sync kernels).
bool encode_tma_tensor(TmaTensor& t, const void* base, bool bf16, int64_t batch, int64_t rows,
                       int64_t heads, int head_dim, const int64_t (&stride)[3], int box_rows);

}  // namespace longctx::cuda
