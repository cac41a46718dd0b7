// Predicted memory of one single-device attention call on the CPU backend (`longctx attn`):
// the caller's tensors plus the kernel workspace, to check the planner against measurement
// (peak RSS and the library's workspace counter). The workspace terms follow the CPU kernels'
// documented buffers: forward packs K and V of up to 64 MiB of (batch, KV head) pairs in fp32;
// backward keeps fp32 copies of Q and dO, LSE and D, and fp32 dQ partials per key chunk.
#pragma once

#include <cstdint>

namespace longctx::plan {

struct AttentionCall {
  int64_t batch = 1, seq = 0, seq_k = 0, heads = 1, kv_heads = 1, dim = 64, dim_v = 64;
  int dtype_bytes = 4;  // storage of q, k, v, out and the gradients
  bool backward = false;
  int threads = 1;
};

struct AttentionCallMemory {
  double tensors = 0;             // q, k, v, out, lse (+ dout, dq, dk, dv)
  double forward_workspace = 0;   // packed K/V + per-thread tiles
  double backward_workspace = 0;  // fp32 Q/dO copies, LSE, D, dQ partials + per-thread scratch
  double workspace_peak() const {
    return forward_workspace > backward_workspace ? forward_workspace : backward_workspace;
  }
  double peak() const { return tensors + workspace_peak(); }  // above the process baseline
};

AttentionCallMemory predict_attention_call(const AttentionCall& call);

}  // namespace longctx::plan
