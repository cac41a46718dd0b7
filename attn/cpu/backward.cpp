// CPU FlashAttention-2 backward: entry point, packing and threading. The SIMD task body is in
// backward_block-inl.h (compiled per ISA by Highway's foreach_target, chosen at run time), the
// work split in backward_plan.cpp, the scalar packing in backward_pack.cpp.
//
// Work split and determinism. A task is (batch, KV head, head split, contiguous chunk of key
// blocks). It owns dK, dV of its key blocks for its part of the GQA group, so with one split
// those rows are written by exactly one task, with no reduction across threads. dQ of a query
// row receives contributions from every key block, i.e. from several chunks; each chunk
// accumulates into its own dQ buffer, covering only the query rows its keys can reach, and the
// buffers are summed in chunk order at the end. We prefer these partial buffers to a second
// pass that recomputes S and dP per query block (5 instead of 7 block products and the exps
// once instead of twice: ~30% less work) at the price of extra float32 buffers: overlapping
// chunk accumulators (up to chunks × dQ for a full mask, about half of that for causal, about
// one dQ for a sliding window), plus head_splits × (dK + dV) when a GQA group is split (MQA-like
// shapes, where dK/dV are much smaller than dQ); capped by a budget (backward_plan.cpp).
// The split and chunk counts depend only on the problem (batch, heads, mask layout, sizes),
// never on the thread count, and every floating-point sum runs in an order fixed by the
// problem: the result is bit-for-bit the same for any thread count and any scheduling.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/cpu_attention.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"

// Highway's foreach_target re-includes this file once per SIMD target; the per-target code
// must come after it (clang-format would sort it first).
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/backward.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "cpu/backward_block-inl.h"
// clang-format on

#if HWY_ONCE
namespace longctx::cpu {
HWY_EXPORT(BackwardTask);

namespace {
using backward_detail::BackwardWork;
using backward_detail::kColumnPad;
using backward_detail::KeyBlockScratch;
using backward_detail::round_up;

constexpr int kDefaultBlockQ = 64;
constexpr int kDefaultBlockK = 64;

// Sizes, padding and block shape of a call (no buffers yet).
BackwardWork describe_work(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
                           const TensorView& dv, const CpuOptions& options) {
  const AttentionShape& shape = p.fwd.shape;
  BackwardWork w;
  w.problem = &p;
  w.dq_out = dq;
  w.dk = dk;
  w.dv = dv;
  w.batch = shape.batch;
  w.n = shape.n;
  w.m = shape.m;
  w.heads = shape.heads;
  w.kv_heads = shape.kv_heads;
  w.group = shape.group();
  w.dim = shape.dim;
  w.dim_v = shape.dim_v;
  w.dim_pad = round_up(w.dim, kColumnPad);
  w.dim_v_pad = round_up(w.dim_v, kColumnPad);
  w.block_q = options.block_q > 0 ? options.block_q : kDefaultBlockQ;
  w.block_k = options.block_k > 0 ? options.block_k : kDefaultBlockK;
  w.key_pad = round_up(w.block_k, kColumnPad);
  w.scale = p.fwd.scale;
  return w;
}

}  // namespace

void backward(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
              const TensorView& dv, const CpuOptions& options) {
  LONGCTX_CHECK_ARG(options.block_q >= 0 && options.block_q % 8 == 0, "block_q",
                    "0 (automatic) or a positive multiple of 8", options.block_q);
  LONGCTX_CHECK_ARG(options.block_k >= 0 && options.block_k % 8 == 0, "block_k",
                    "0 (automatic) or a positive multiple of 8", options.block_k);
  BackwardWork w = describe_work(p, dq, dk, dv, options);
  const int threads = resolve_threads(options.threads);

  // Document ids are the only batch-dependent part of a mask.
  const ResolvedMask& mask = p.fwd.mask;
  const int64_t num_layouts = mask.has_docs() ? w.batch : 1;
  w.layouts.resize(size_t(num_layouts));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t b = 0; b < num_layouts; ++b)
    w.layouts[size_t(b)] = BlockLayout::build(mask, b, w.block_q, w.block_k);
  backward_detail::plan_work_split(w);

  const int64_t rows = w.batch * w.heads * w.n;
  // Q and dO are read in place when they are float32 with contiguous rows of whole vectors.
  const bool q_in_place = backward_detail::readable_in_place(p.fwd.q, w.dim);
  const bool dout_in_place = backward_detail::readable_in_place(p.dout, w.dim_v);
  WorkspaceBuffer<float> q_packed{size_t(q_in_place ? 0 : rows * w.dim_pad)};  // [B, H, N, ·]
  WorkspaceBuffer<float> dout_packed{size_t(dout_in_place ? 0 : rows * w.dim_v_pad)};
  WorkspaceBuffer<float> lse{size_t(rows)};            // [B, H, N]
  WorkspaceBuffer<float> delta{size_t(rows)};          // [B, H, N]
  WorkspaceBuffer<float> dq_acc{size_t(w.dq_floats)};  // per (batch, chunk): [H, rows, dim_pad]
  const int64_t key_rows = w.head_splits > 1 ? w.batch * w.kv_heads * w.m : 0;
  WorkspaceBuffer<float> dk_split{size_t(w.head_splits * key_rows * w.dim_pad)};  // [S, B, G, M, ·]
  WorkspaceBuffer<float> dv_split{size_t(w.head_splits * key_rows * w.dim_v_pad)};
  w.dk_split = dk_split.data();
  w.dv_split = dv_split.data();
  const auto operand = [&](bool in_place, const TensorView& t, const float* packed,
                           int64_t pad) -> backward_detail::RowOperand {
    if (in_place)  // t is [B, N, H, ·]: (b, h, i) strides are (stride 0, stride 2, stride 1)
      return {static_cast<const float*>(t.data), t.stride(0), t.stride(2), t.stride(1)};
    return {packed, w.heads * w.n * pad, w.n * pad, pad};
  };
  w.q = operand(q_in_place, p.fwd.q, q_packed.data(), w.dim_pad);
  w.dout = operand(dout_in_place, p.dout, dout_packed.data(), w.dim_v_pad);
  w.lse = lse.data();
  w.delta = delta.data();
  w.dq = dq_acc.data();

  // Per-thread scratch allocated here, not inside the parallel region, so that an allocation
  // failure surfaces as an exception instead of terminating an OpenMP thread.
  std::vector<KeyBlockScratch> scratch;
  scratch.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t) scratch.emplace_back(w);

#pragma omp parallel num_threads(threads)
  {
    KeyBlockScratch& mine = scratch[size_t(omp_get_thread_num())];
    float* row_scratch = mine.row.data();  // [2 · max(dim_pad, dim_v_pad)]
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / (w.heads * w.n), h = r / w.n % w.heads, i = r % w.n;
      backward_detail::pack_query_rows(
          w, b, i, h, q_in_place ? nullptr : q_packed.data() + r * w.dim_pad,
          dout_in_place ? nullptr : dout_packed.data() + r * w.dim_v_pad, row_scratch,
          lse.data() + r, delta.data() + r);
    }

#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < w.num_tasks(); ++task)
      HWY_DYNAMIC_DISPATCH(BackwardTask)(w, task, mine);

#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / (w.heads * w.n), h = r / w.n % w.heads, i = r % w.n;
      backward_detail::store_dq_row(w, b, i, h, row_scratch);
    }
#pragma omp for schedule(static)
    for (int64_t r = 0; r < key_rows; ++r) {
      const int64_t b = r / (w.kv_heads * w.m), g = r / w.m % w.kv_heads, j = r % w.m;
      backward_detail::store_split_key_row(w, b, j, g, row_scratch);
    }
  }
}

}  // namespace longctx::cpu
#endif  // HWY_ONCE
