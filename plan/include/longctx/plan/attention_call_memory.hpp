// Predicted memory of one single-device attention call on the CPU backend (`longctx attn`):
// the caller's tensors plus the kernel workspace, to check the planner against measurement
// (peak RSS and the library's workspace counter). The workspace comes from the CPU kernels'
// own estimates (cpu::forward_workspace_bytes / backward_workspace_bytes), which size the
// kernels' buffers by the same code as the kernels do; only the tensor bytes are counted here.
#pragma once

#include <cstdint>
#include <optional>

#include "longctx/attn/mask.hpp"
#include "longctx/core/dtype.hpp"

namespace longctx::plan {

struct AttentionCall {
  int64_t batch = 1, seq = 0, seq_k = 0, heads = 1, kv_heads = 1, dim = 64, dim_v = 64;
  DType dtype = DType::f32;  // storage of q, k, v, out and the gradients
  bool backward = false;
  int threads = 1;
  MaskKind mask = MaskKind::causal;
  std::optional<Window> window;
};

struct AttentionCallMemory {
  int64_t forward_tensors = 0;     // q, k, v, out, lse: alive during the forward
  int64_t tensors = 0;             // all of the call's: forward_tensors (+ dout, dq, dk, dv)
  int64_t forward_workspace = 0;   // packed K/V + per-thread tiles
  int64_t backward_workspace = 0;  // fp32 Q/dO copies, LSE, D, dQ partials, per-thread scratch
  // The forward's and the backward's workspace are never alive at the same time.
  int64_t workspace_peak() const {
    return forward_workspace > backward_workspace ? forward_workspace : backward_workspace;
  }
  // Above the process baseline: the larger of the two phases, the forward (its tensors and
  // workspace) and the backward (every tensor, dout and the gradients included, and its own
  // workspace). With a small backward workspace the forward can be the peak (MHA, short N).
  int64_t peak() const {
    const int64_t forward = forward_tensors + forward_workspace;
    const int64_t backward = tensors + backward_workspace;
    return forward > backward ? forward : backward;
  }
};

// Throws ArgumentError naming the bad size (non-positive, heads % kv_heads != 0, threads < 1).
AttentionCallMemory predict_attention_call(const AttentionCall& call);

}  // namespace longctx::plan
