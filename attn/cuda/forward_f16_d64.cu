// Forward kernel instantiation: f16, head dim 64.
#include "forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_forward<__half, 64>(const ForwardParams&, int, cudaStream_t);
}  // namespace longctx::cuda
