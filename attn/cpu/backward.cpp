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
#include <array>
#include <cstdint>
#include <vector>

#include "cpu/cpu_attention.hpp"
#include "cpu/forward_mask.hpp"
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

// Sizes, padding and block shape of a call (no tensors, no buffers yet). Under a block-sparse
// grid the automatic blocks nest inside grid blocks (forward_mask.hpp).
BackwardWork describe_work(const AttentionShape& shape, const ResolvedMask& mask,
                           CpuOptions options) {
  if (mask.block_sparse && options.block_q == 0)
    options.block_q = block_size_for_grid(mask, true, kDefaultBlockQ);
  if (mask.block_sparse && options.block_k == 0)
    options.block_k = block_size_for_grid(mask, false, kDefaultBlockK);
  LONGCTX_CHECK_ARG(options.block_q >= 0 && options.block_q % 8 == 0, "block_q",
                    "0 (automatic) or a positive multiple of 8", options.block_q);
  LONGCTX_CHECK_ARG(options.block_k >= 0 && options.block_k % 8 == 0, "block_k",
                    "0 (automatic) or a positive multiple of 8", options.block_k);
  BackwardWork w;
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
  return w;
}

// Compiles the mask to block layouts (document ids are the only batch-dependent part of a
// mask, so one layout without them) and chooses the work split, which depends on them.
void plan_layouts_and_split(BackwardWork& w, const ResolvedMask& mask, int threads) {
  const int64_t num_layouts = mask.has_docs() ? w.batch : 1;
  w.layouts.resize(size_t(num_layouts));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t b = 0; b < num_layouts; ++b)
    w.layouts[size_t(b)] = BlockLayout::build(mask, b, w.block_q, w.block_k);
  backward_detail::plan_work_split(w);
}

// Workspace of the whole call: the call-wide buffers plus every thread's key-block scratch,
// all alive at once (the peak of workspace_bytes_current during the call).
int64_t workspace_bytes(const BackwardWork& w, bool q_in_place, bool dout_in_place, int threads) {
  int64_t bytes = 0;
  for (int64_t f : backward_detail::call_buffer_floats(w, q_in_place, dout_in_place))
    bytes += f * int64_t(sizeof(float));
  for (int64_t f : backward_detail::key_block_scratch_floats(w))
    bytes += threads * f * int64_t(sizeof(float));
  return bytes;
}

}  // namespace

int64_t backward_workspace_bytes(const AttentionShape& shape, DType dtype, const ResolvedMask& mask,
                                 const CpuOptions& options) {
  LONGCTX_CHECK_ARG(mask.n == shape.n && mask.m == shape.m, "mask",
                    "resolved for N = " << shape.n << ", M = " << shape.m,
                    "N = " << mask.n << ", M = " << mask.m);
  BackwardWork w = describe_work(shape, mask, options);
  const int threads = resolve_threads(options.threads);
  plan_layouts_and_split(w, mask, threads);
  // The API's tensors have contiguous rows: Q and dO are read in place iff float32 and whole
  // vectors long.
  return workspace_bytes(w, backward_detail::readable_in_place(dtype, w.dim),
                         backward_detail::readable_in_place(dtype, w.dim_v), threads);
}

void backward(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
              const TensorView& dv, const CpuOptions& options) {
  BackwardWork w = describe_work(p.fwd.shape, p.fwd.mask, options);
  w.problem = &p;
  w.dq_out = dq;
  w.dk = dk;
  w.dv = dv;
  w.scale = p.fwd.scale;
  const int threads = resolve_threads(options.threads);
  plan_layouts_and_split(w, p.fwd.mask, threads);

  const int64_t rows = w.batch * w.heads * w.n;
  // Q and dO are read in place when they are float32 with contiguous rows of whole vectors.
  const bool q_in_place = backward_detail::readable_in_place(p.fwd.q, w.dim);
  const bool dout_in_place = backward_detail::readable_in_place(p.dout, w.dim_v);
  // Sizes from call_buffer_floats (backward_plan.cpp), shared with backward_workspace_bytes.
  const std::array<int64_t, 7> sizes =
      backward_detail::call_buffer_floats(w, q_in_place, dout_in_place);
  WorkspaceBuffer<float> q_packed{size_t(sizes[0])};     // [B, H, N, dim_pad] unless in place
  WorkspaceBuffer<float> dout_packed{size_t(sizes[1])};  // [B, H, N, dim_v_pad] unless in place
  WorkspaceBuffer<float> lse{size_t(sizes[2])};          // [B, H, N]
  WorkspaceBuffer<float> delta{size_t(sizes[3])};        // [B, H, N]
  WorkspaceBuffer<float> dq_acc{size_t(sizes[4])};       // per (batch, chunk): [H, rows, dim_pad]
  WorkspaceBuffer<float> dk_split{size_t(sizes[5])};     // [S, B, G, M, dim_pad] if S > 1
  WorkspaceBuffer<float> dv_split{size_t(sizes[6])};     // [S, B, G, M, dim_v_pad] if S > 1
  const int64_t key_rows = w.head_splits > 1 ? w.batch * w.kv_heads * w.m : 0;
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
