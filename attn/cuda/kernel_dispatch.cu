// Picks the compiled instantiation for a (dtype, head dim) pair.
#include "backward_kernel.cuh"
#include "forward_kernel.cuh"
#include "kernel_launch.hpp"

namespace longctx::cuda {

#define LONGCTX_EXTERN_KERNELS(T, D)                                                              \
  extern template cudaError_t launch_forward<T, D>(const ForwardParams&, int, cudaStream_t);      \
  extern template cudaError_t launch_backward<T, D>(const BackwardParams&, const ForwardOutputs&, \
                                                    const float*, const int64_t(&)[3], void*,     \
                                                    const int64_t(&)[3], cudaStream_t);
LONGCTX_EXTERN_KERNELS(__nv_bfloat16, 64)
LONGCTX_EXTERN_KERNELS(__nv_bfloat16, 128)
LONGCTX_EXTERN_KERNELS(__half, 64)
LONGCTX_EXTERN_KERNELS(__half, 128)
#undef LONGCTX_EXTERN_KERNELS

bool head_dim_supported(int head_dim) {
  return head_dim == 64 || head_dim == 128;
}

int forward_tile_count() {
  return kForwardTiles;
}

KernelBlocks kernel_blocks(int head_dim, int forward_tile) {
  KernelBlocks b{};
  if (head_dim == 64) {
    forward_tile_blocks<64>(forward_tile, b.fwd_q, b.fwd_k);
    b.bwd_k = BackwardShape<64>::kBK;
    b.bwd_q = BackwardShape<64>::kBQ;
  } else {
    forward_tile_blocks<128>(forward_tile, b.fwd_q, b.fwd_k);
    b.bwd_k = BackwardShape<128>::kBK;
    b.bwd_q = BackwardShape<128>::kBQ;
  }
  return b;
}

cudaError_t launch_forward(KernelDType dtype, int head_dim, int forward_tile,
                           const ForwardParams& p, cudaStream_t stream) {
  if (dtype == KernelDType::bf16)
    return head_dim == 64 ? launch_forward<__nv_bfloat16, 64>(p, forward_tile, stream)
                          : launch_forward<__nv_bfloat16, 128>(p, forward_tile, stream);
  return head_dim == 64 ? launch_forward<__half, 64>(p, forward_tile, stream)
                        : launch_forward<__half, 128>(p, forward_tile, stream);
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
