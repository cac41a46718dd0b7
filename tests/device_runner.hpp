// Runs an attention case on the CUDA backend from host inputs: copies the operands to the
// device with their strides, poisons every device output (NaN bit patterns) so that unwritten
// elements fail, calls the public API with Backend::cuda and copies the results back.
// Only built when the CUDA backend is (LONGCTX_HAS_CUDA).
#pragma once

#include "longctx/attention.hpp"

namespace longctx::test {

// True when a CUDA device is usable; GPU tests skip otherwise.
bool cuda_device_present();

ForwardResult device_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                             const AttentionSpec& spec, const AttentionOptions& options);
BackwardResult device_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                               const TensorView& out, const TensorView& lse, const TensorView& dout,
                               const AttentionSpec& spec, const AttentionOptions& options);

}  // namespace longctx::test
