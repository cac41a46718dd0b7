// longctx public attention API: exact (masked) attention forward and backward.
//
// Shapes (logical; any strides):
//   q    [B, N, H, D]     k [B, M, G, D]     v [B, M, G, DV]
//   out  [B, N, H, DV]    lse [B, H, N] (float32, natural log; -inf for rows that see no key)
//   dout [B, N, H, DV]    dq [B, N, H, D]    dk [B, M, G, D]    dv [B, M, G, DV]
// H % G == 0 (GQA/MQA: query head h uses KV head h / (H/G)); D, DV multiples of 8 in [8*4, 256].
// q, k, v share one dtype (f32, bf16 or f16); outputs may have any storage dtype.
#pragma once

#include <cstdint>

#include "longctx/attn/mask.hpp"
#include "longctx/core/tensor.hpp"

namespace longctx {

// cuda: Hopper GPUs (builds with LONGCTX_CUDA); tensors are device pointers, the spec's arrays
// stay on the host; only the caller-buffer forms (outputs on the device) apply.
enum class Backend : uint8_t { cpu, reference, cuda };

struct AttentionOptions {
  Backend backend = Backend::cpu;
  int threads = 0;  // 0: OpenMP default
  int block_q = 0;  // 0: backend's choice; otherwise a multiple of 8
  int block_k = 0;
};

struct ForwardResult {
  Tensor out;  // [B, N, H, DV], dtype of q
  Tensor lse;  // [B, H, N] float32
};

struct BackwardResult {
  Tensor dq;  // [B, N, H, D], dtype of q
  Tensor dk;  // [B, M, G, D]
  Tensor dv;  // [B, M, G, DV]
};

// Writes into caller-provided out [B, N, H, DV] and lse [B, H, N] (float32).
void attention_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                       const AttentionSpec& spec, const TensorView& out, const TensorView& lse,
                       const AttentionOptions& options = {});
ForwardResult attention_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const AttentionSpec& spec, const AttentionOptions& options = {});

// Gradients of sum(out * dout). out and lse must come from attention_forward with the same spec.
void attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                        const TensorView& out, const TensorView& lse, const TensorView& dout,
                        const AttentionSpec& spec, const TensorView& dq, const TensorView& dk,
                        const TensorView& dv, const AttentionOptions& options = {});
BackwardResult attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                                  const TensorView& out, const TensorView& lse,
                                  const TensorView& dout, const AttentionSpec& spec,
                                  const AttentionOptions& options = {});

}  // namespace longctx
