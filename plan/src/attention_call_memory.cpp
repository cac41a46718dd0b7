// Memory of a single-device CPU attention call (see attention_call_memory.hpp): the tensor
// bytes are counted here, the workspace is asked of the CPU kernels themselves.
#include "longctx/plan/attention_call_memory.hpp"

#include "cpu/cpu_attention.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"

namespace longctx::plan {

AttentionCallMemory predict_attention_call(const AttentionCall& c) {
  LONGCTX_CHECK_ARG(c.batch > 0 && c.seq > 0 && c.seq_k > 0 && c.heads > 0 && c.kv_heads > 0 &&
                        c.heads % c.kv_heads == 0 && c.dim > 0 && c.dim_v > 0 && c.threads > 0,
                    "call", "positive sizes with heads % kv_heads == 0 and threads >= 1",
                    "B " << c.batch << " N " << c.seq << " M " << c.seq_k << " H " << c.heads
                         << " G " << c.kv_heads << " D " << c.dim << " DV " << c.dim_v
                         << " threads " << c.threads);
  const AttentionShape shape{c.batch, c.seq, c.seq_k, c.heads, c.kv_heads, c.dim, c.dim_v};
  const int64_t e = dtype_size(c.dtype);
  const int64_t q = c.batch * c.seq * c.heads * c.dim;                    // [B, N, H, D]
  const int64_t kv = c.batch * c.seq_k * c.kv_heads * (c.dim + c.dim_v);  // [B, M, G, D + DV]
  const int64_t out = c.batch * c.seq * c.heads * c.dim_v;                // [B, N, H, DV]
  const int64_t lse = c.batch * c.heads * c.seq;                          // [B, H, N] float32

  AttentionCallMemory m;
  m.forward_tensors = e * (q + kv + out) + int64_t(sizeof(float)) * lse;
  m.tensors = m.forward_tensors + (c.backward ? e * (out + q + kv) : 0);  // dout; dq, dk, dv

  const cpu::CpuOptions options{c.threads, 0, 0};
  m.forward_workspace = cpu::forward_workspace_bytes(shape, options);
  if (c.backward) {
    AttentionSpec spec;
    spec.mask = c.mask;
    spec.window = c.window;
    m.backward_workspace =
        cpu::backward_workspace_bytes(shape, c.dtype, resolve_mask(spec, c.seq, c.seq_k), options);
  }
  return m;
}

}  // namespace longctx::plan
