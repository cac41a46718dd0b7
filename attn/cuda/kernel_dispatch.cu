// Picks the compiled instantiation for a (dtype, head dim) pair.
#include "backward_kernel.cuh"
#include "forward_kernel.cuh"
#include "kernel_launch.hpp"
#include "wgmma_backward_kernel.cuh"
#include "wgmma_forward_kernel.cuh"

namespace longctx::cuda {

#define LONGCTX_EXTERN_KERNELS(T, D)                                                              \
  extern template cudaError_t launch_forward<T, D>(const ForwardParams&, int, cudaStream_t);      \
  extern template cudaError_t launch_backward<T, D>(const BackwardParams&, const ForwardOutputs&, \
                                                    const float*, const int64_t(&)[3], void*,     \
                                                    const int64_t(&)[3], cudaStream_t);           \
  extern template cudaError_t launch_wgmma_forward<T, D, true>(const WgmmaForwardParams&,         \
                                                               cudaStream_t);                     \
  extern template cudaError_t launch_wgmma_forward<T, D, false>(const WgmmaForwardParams&,        \
                                                                cudaStream_t);
LONGCTX_EXTERN_KERNELS(__nv_bfloat16, 64)
LONGCTX_EXTERN_KERNELS(__nv_bfloat16, 128)
LONGCTX_EXTERN_KERNELS(__half, 64)
LONGCTX_EXTERN_KERNELS(__half, 128)
#undef LONGCTX_EXTERN_KERNELS
#define LONGCTX_EXTERN_WGMMA_BACKWARD(T)                                                           \
  extern template cudaError_t launch_wgmma_backward<T, 128>(                                       \
      const WgmmaBackwardParams&, const ForwardOutputs&, const float*, const int64_t(&)[3], void*, \
      const int64_t(&)[3], cudaStream_t);
LONGCTX_EXTERN_WGMMA_BACKWARD(__nv_bfloat16)
LONGCTX_EXTERN_WGMMA_BACKWARD(__half)
#undef LONGCTX_EXTERN_WGMMA_BACKWARD

// The wgmma backward walks the tile list built for the mma.sync backward's blocks.
static_assert(BackwardShape<128>::kBK == kWgmmaBackwardKeyRows &&
              BackwardShape<128>::kBQ == kWgmmaBackwardQueryRows);

bool head_dim_supported(int head_dim) {
  return head_dim == 64 || head_dim == 128;
}

int forward_tile_count() {
  return kWgmmaForwardTiles + kForwardTiles;
}

KernelBlocks kernel_blocks(int head_dim, int forward_tile) {
  KernelBlocks b{};
  const int mma_tile = forward_tile - kWgmmaForwardTiles;
  if (head_dim == 64) {
    if (mma_tile >= 0) forward_tile_blocks<64>(mma_tile, b.fwd_q, b.fwd_k);
    b.bwd_k = BackwardShape<64>::kBK;
    b.bwd_q = BackwardShape<64>::kBQ;
  } else {
    if (mma_tile >= 0) forward_tile_blocks<128>(mma_tile, b.fwd_q, b.fwd_k);
    b.bwd_k = BackwardShape<128>::kBK;
    b.bwd_q = BackwardShape<128>::kBQ;
  }
  if (is_wgmma_forward_tile(forward_tile)) {
    b.fwd_q = WgmmaForwardShape<128, true>::kBQ;
    b.fwd_k = WgmmaForwardShape<128, true>::kBK;
  }
  return b;
}

cudaError_t launch_wgmma_forward(KernelDType dtype, int head_dim, int forward_tile,
                                 const WgmmaForwardParams& wp, cudaStream_t stream) {
  const bool overlap = forward_tile == 0;
  if (dtype == KernelDType::bf16) {
    if (head_dim == 64)
      return overlap ? launch_wgmma_forward<__nv_bfloat16, 64, true>(wp, stream)
                     : launch_wgmma_forward<__nv_bfloat16, 64, false>(wp, stream);
    return overlap ? launch_wgmma_forward<__nv_bfloat16, 128, true>(wp, stream)
                   : launch_wgmma_forward<__nv_bfloat16, 128, false>(wp, stream);
  }
  if (head_dim == 64)
    return overlap ? launch_wgmma_forward<__half, 64, true>(wp, stream)
                   : launch_wgmma_forward<__half, 64, false>(wp, stream);
  return overlap ? launch_wgmma_forward<__half, 128, true>(wp, stream)
                 : launch_wgmma_forward<__half, 128, false>(wp, stream);
}

cudaError_t launch_forward(KernelDType dtype, int head_dim, int forward_tile,
                           const ForwardParams& p, cudaStream_t stream) {
  forward_tile -= kWgmmaForwardTiles;  // the mma.sync kernels' own numbering
  if (dtype == KernelDType::bf16)
    return head_dim == 64 ? launch_forward<__nv_bfloat16, 64>(p, forward_tile, stream)
                          : launch_forward<__nv_bfloat16, 128>(p, forward_tile, stream);
  return head_dim == 64 ? launch_forward<__half, 64>(p, forward_tile, stream)
                        : launch_forward<__half, 128>(p, forward_tile, stream);
}

cudaError_t launch_wgmma_backward(KernelDType dtype, const WgmmaBackwardParams& wp,
                                  const ForwardOutputs& fo, const float* lse,
                                  const int64_t (&lse_stride)[3], void* dq,
                                  const int64_t (&dq_stride)[3], cudaStream_t stream) {
  return dtype == KernelDType::bf16
             ? launch_wgmma_backward<__nv_bfloat16, 128>(wp, fo, lse, lse_stride, dq, dq_stride,
                                                         stream)
             : launch_wgmma_backward<__half, 128>(wp, fo, lse, lse_stride, dq, dq_stride, stream);
}

cudaError_t launch_backward(KernelDType dtype, int head_dim, const BackwardParams& p,
                            const ForwardOutputs& fo, const float* lse,
                            const int64_t (&lse_stride)[3], void* dq, const int64_t (&dq_stride)[3],
                            cudaStream_t stream) {
  if (dtype == KernelDType::bf16)
    return head_dim == 64
               ? launch_backward<__nv_bfloat16, 64>(p, fo, lse, lse_stride, dq, dq_stride, stream)
               : launch_backward<__nv_bfloat16, 128>(p, fo, lse, lse_stride, dq, dq_stride, stream);
  return head_dim == 64
             ? launch_backward<__half, 64>(p, fo, lse, lse_stride, dq, dq_stride, stream)
             : launch_backward<__half, 128>(p, fo, lse, lse_stride, dq, dq_stride, stream);
}

}  // namespace longctx::cuda
