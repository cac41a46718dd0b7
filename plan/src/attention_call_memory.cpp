// Memory of a single-device CPU attention call (see attention_call_memory.hpp).
#include "longctx/plan/attention_call_memory.hpp"

#include <algorithm>
#include <cmath>

#include "longctx/core/error.hpp"

namespace longctx::plan {
namespace {

constexpr double kF32 = 4;
constexpr int64_t kPad = 16;  // column padding of the packed fp32 panels
int64_t pad(int64_t x) {
  return (x + kPad - 1) / kPad * kPad;
}

}  // namespace

AttentionCallMemory predict_attention_call(const AttentionCall& c) {
  LONGCTX_CHECK_ARG(c.batch > 0 && c.seq > 0 && c.seq_k > 0 && c.heads > 0 && c.kv_heads > 0 &&
                        c.heads % c.kv_heads == 0 && c.dim > 0 && c.dim_v > 0 && c.threads > 0,
                    "call", "positive sizes with heads % kv_heads == 0",
                    "B " << c.batch << " N " << c.seq << " M " << c.seq_k << " H " << c.heads
                         << " G " << c.kv_heads << " D " << c.dim << " DV " << c.dim_v);
  const double e = c.dtype_bytes;
  const double b = double(c.batch), n = double(c.seq), m = double(c.seq_k);
  const double h = double(c.heads), g = double(c.kv_heads);
  const double d = double(c.dim), dv = double(c.dim_v);
  const double rows = b * h * n;  // query rows over all heads

  AttentionCallMemory out;
  out.tensors = e * (b * n * h * d + b * m * g * (d + dv) + b * n * h * dv) + kF32 * rows;
  if (c.backward) out.tensors += e * (b * n * h * dv + b * n * h * d + b * m * g * (d + dv));

  // Forward: fp32 K panels and V rows of as many (batch, KV head) pairs as fit 64 MiB (at least
  // one), plus per-thread tiles of 96 query rows against 128 keys.
  const double pair_bytes = m * double(pad(c.dim) + pad(c.dim_v)) * kF32;
  const double pairs = b * g;
  const double chunk = std::clamp(std::floor(double(64 << 20) / pair_bytes), 1.0, pairs);
  const double tile = 96 * double(pad(c.dim) + 128 + pad(c.dim_v) + 3) * kF32;
  out.forward_workspace = chunk * pair_bytes + c.threads * tile;

  if (c.backward) {
    // fp32 Q and dO copies, LSE and D per row. The kernel wants 16 tasks over the (batch, KV
    // head) pairs and gets them by splitting keys into chunks (each with an fp32 dQ partial) or
    // a GQA group into head splits (each with fp32 dK, dV): it takes the most tasks, then the
    // fewest extra bytes, with the extra capped at max(256 MiB, dQ).
    const double dq_bytes = rows * double(pad(c.dim)) * kF32;
    const double dkv_bytes = b * g * m * double(pad(c.dim) + pad(c.dim_v)) * kF32;
    const double need = std::ceil(16 / pairs);
    const double key_blocks = std::ceil(m / 64);
    const double budget = std::max(double(256 << 20), dq_bytes);
    double best_tasks = 1, best_extra = 0;
    for (double splits = 1; splits <= std::min(h / g, need); splits += 1) {
      const double chunks = std::min(key_blocks, std::ceil(need / splits));
      const double extra = (chunks - 1) * dq_bytes + (splits > 1 ? splits * dkv_bytes : 0);
      const double tasks = std::min(need, splits * chunks);
      if (extra > budget) continue;
      if (tasks > best_tasks || (tasks == best_tasks && extra < best_extra)) {
        best_tasks = tasks;
        best_extra = extra;
      }
    }
    const double scratch =
        double(pad(64)) * (2 * pad(c.dim) + c.dim + c.dim_v + pad(c.dim_v)) * kF32 +
        3 * 64.0 * double(pad(64)) * kF32;
    out.backward_workspace = rows * double(pad(c.dim) + pad(c.dim_v)) * kF32 + 2 * rows * kF32 +
                             dq_bytes + best_extra + c.threads * scratch;
  }
  return out;
}

}  // namespace longctx::plan
