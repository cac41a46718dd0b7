// Backward kernel instantiation: bf16, head dim 64.
#include "backward_kernel.cuh"

namespace longctx::cuda {
template cudaError_t launch_backward<__nv_bfloat16, 64>(const BackwardParams&,
                                                        const ForwardOutputs&, const float*,
                                                        const int64_t (&)[3], void*,
                                                        const int64_t (&)[3], cudaStream_t);
}  // namespace longctx::cuda
