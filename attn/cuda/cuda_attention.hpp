// The CUDA backend (Hopper, sm_90a): exact attention forward and backward on device memory with
// the foundation's spec (masks, positions, documents, GQA). Reached through the public API with
// AttentionOptions::backend = Backend::cuda; tensors are device pointers, the spec's position and
// document arrays stay on the host (the backend uploads what its kernels need).
#pragma once

#include <string>

#include "longctx/attn/problem.hpp"

namespace longctx::cuda {

// True when this build has the CUDA backend and a CUDA device is present.
bool device_available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)", or why no device is usable.
std::string device_description();

// Supported: q, k, v, out (and dout, dq, dk, dv) bf16 or f16 of one dtype, D = DV ∈ {64, 128},
// rows contiguous and 16-byte aligned; lse float32 with any strides. Throws ArgumentError naming
// the argument otherwise, CudaError (a std::runtime_error) when a CUDA call fails.
void forward(const ForwardProblem& p, const TensorView& out, const TensorView& lse);
void backward(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
              const TensorView& dv);

}  // namespace longctx::cuda
