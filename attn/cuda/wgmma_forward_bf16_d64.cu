// TMA + wgmma forward kernel instantiations: bf16, head dim 64, with and without the overlap.
#include "wgmma_forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_wgmma_forward<__nv_bfloat16, 64, true>(const WgmmaForwardParams&,
                                                                   cudaStream_t);
template cudaError_t launch_wgmma_forward<__nv_bfloat16, 64, false>(const WgmmaForwardParams&,
                                                                    cudaStream_t);
}  // namespace longctx::cuda
