// TMA + wgmma forward kernel instantiations: f16, head dim 128, with and without the overlap.
#include "wgmma_forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_wgmma_forward<__half, 128, true>(const WgmmaForwardParams&,
                                                             cudaStream_t);
template cudaError_t launch_wgmma_forward<__half, 128, false>(const WgmmaForwardParams&,
                                                              cudaStream_t);
}  // namespace longctx::cuda
