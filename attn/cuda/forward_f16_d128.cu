// Forward kernel instantiation: f16, head dim 128.
#include "forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_forward<__half, 128>(const ForwardParams&, int, cudaStream_t);
}  // namespace longctx::cuda
