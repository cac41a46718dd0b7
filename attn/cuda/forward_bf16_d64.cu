// Forward kernel instantiation: bf16, head dim 64.
#include "forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_forward<__nv_bfloat16, 64>(const ForwardParams&, int, cudaStream_t);
}  // namespace longctx::cuda
