// CPU backend: tiled FlashAttention-2 forward and backward (online softmax, O(N·d) extra
// memory, OpenMP over batch × head × block, Highway SIMD with runtime ISA dispatch).
#pragma once

#include "longctx/attn/problem.hpp"

namespace longctx::cpu {

struct CpuOptions {
  int threads = 0;  // resolved with resolve_threads
  int block_q = 0;  // 0: automatic
  int block_k = 0;
};

// out [B, N, H, DV] (any dtype), lse [B, H, N] float32.
void forward(const ForwardProblem& p, const TensorView& out, const TensorView& lse,
             const CpuOptions& options);
// dq [B, N, H, D], dk [B, M, G, D], dv [B, M, G, DV] (any dtype). Deterministic.
void backward(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
              const TensorView& dv, const CpuOptions& options);

// Name of the SIMD target chosen at run time (e.g. "AVX3", "AVX2"), for reports.
const char* simd_target_name();

}  // namespace longctx::cpu
