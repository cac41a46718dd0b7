// Host-visible entry points of the compiled kernels, one instantiation per (dtype, head dim):
// forward_{bf16,f16}_d{64,128}.cu and backward_{bf16,f16}_d{64,128}.cu keep builds parallel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernel_params.hpp"
#include "tma_params.hpp"

namespace longctx::cuda {

enum class KernelDType : uint8_t { bf16, f16 };

// Block sizes of the kernels (the tile lists must be built with them).
struct KernelBlocks {
  int fwd_q, fwd_k;  // forward: query rows per CTA, key rows per step
  int bwd_k, bwd_q;  // backward: key rows per CTA, query rows per step
};
// forward_tile: index of a compiled forward configuration, 0 <= tile < forward_tile_count():
//   0: TMA + wgmma, warp-specialised, softmax overlapped with the previous tile's P·V (default);
//   1: the same without the overlap;
//   2..5: the mma.sync kernels of forward_kernel.cuh (their tiles 0..3), also the fallback
//   when the TMA descriptors cannot be made.
KernelBlocks kernel_blocks(int head_dim, int forward_tile);
int forward_tile_count();
constexpr int kWgmmaForwardTiles = 2;
inline bool is_wgmma_forward_tile(int tile) {
  return tile < kWgmmaForwardTiles;
}

// True when the head dim has compiled kernels (64 and 128).
bool head_dim_supported(int head_dim);

cudaError_t launch_forward(KernelDType dtype, int head_dim, int forward_tile,
                           const ForwardParams& p, cudaStream_t stream);
// tile < kWgmmaForwardTiles; wp.q/k/v hold the TMA descriptors of p's tensors.
cudaError_t launch_wgmma_forward(KernelDType dtype, int head_dim, int forward_tile,
                                 const WgmmaForwardParams& wp, cudaStream_t stream);
// The wgmma backward (head dim 128; p.tiles built with the BackwardShape blocks, which equal
// kWgmmaBackward{Key,Query}Rows); wp.q/k/v/dout hold the TMA descriptors.
inline bool wgmma_backward_supported(int head_dim) {
  return head_dim == 128;
}
cudaError_t launch_wgmma_backward(KernelDType dtype, const WgmmaBackwardParams& wp,
                                  const ForwardOutputs& fo, const float* lse,
                                  const int64_t (&lse_stride)[3], void* dq,
                                  const int64_t (&dq_stride)[3], cudaStream_t stream);
cudaError_t launch_backward(KernelDType dtype, int head_dim, const BackwardParams& p,
                            const ForwardOutputs& fo, const float* lse,
                            const int64_t (&lse_stride)[3], void* dq, const int64_t (&dq_stride)[3],
                            cudaStream_t stream);

}  // namespace longctx::cuda
