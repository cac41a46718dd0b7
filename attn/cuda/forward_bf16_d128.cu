// Forward kernel instantiation: bf16, head dim 128.
#include "forward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_forward<__nv_bfloat16, 128>(const ForwardParams&, int, cudaStream_t);
}  // namespace longctx::cuda
