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

// Peak workspace (bytes counted by workspace_bytes_peak) of forward / backward on a problem of
// this shape with these options, computed by the code that sizes the kernels' buffers. The
// forward's depends only on sizes, blocks and threads; the backward's also on the mask (its
// layout decides the dQ accumulators and the work split) and on whether Q and dO can be read
// in place (float32 with D, DV multiples of 16, assuming contiguous rows as the API's tensors
// have). `mask` must be resolved for shape.n, shape.m (resolve_mask).
int64_t forward_workspace_bytes(const AttentionShape& shape, const CpuOptions& options);
int64_t backward_workspace_bytes(const AttentionShape& shape, DType dtype, const ResolvedMask& mask,
                                 const CpuOptions& options);

// Name of the SIMD target chosen at run time (e.g. "AVX3", "AVX2"), for reports.
const char* simd_target_name();

}  // namespace longctx::cpu
