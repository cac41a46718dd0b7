// TMA + wgmma backward kernel instantiation: bf16, head dim 128.
#include "wgmma_backward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_wgmma_backward<__nv_bfloat16, 128>(const WgmmaBackwardParams&,
                                                               const ForwardOutputs&, const float*,
                                                               const int64_t (&)[3], void*,
                                                               const int64_t (&)[3], cudaStream_t);
}  // namespace longctx::cuda
