// The all-gather schedule (see allgather_schedule.hpp).
#include "allgather_schedule.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "longctx/core/timer.hpp"
#include "pack.hpp"

namespace longctx::dist {
namespace {

// Every member's K and V, gathered: member j's [K: B, m_j, G, D][V: B, m_j, G, DV] at offset[j].
struct GatheredKv {
  ScratchBytes bytes;
  std::vector<int64_t> sizes, offsets;  // bytes per member
  TensorView k(const RingGeometry& g, int j, DType t) const {
    return TensorView::contiguous(const_cast<char*>(bytes.data()) + offsets[size_t(j)], t,
                                  {g.batch, g.rows(j), g.kv_heads, g.dim});
  }
  TensorView v(const RingGeometry& g, int j, DType t) const {
    const int64_t k_bytes = g.batch * g.rows(j) * g.kv_heads * g.dim * dtype_size(t);
    return TensorView::contiguous(const_cast<char*>(bytes.data()) + offsets[size_t(j)] + k_bytes, t,
                                  {g.batch, g.rows(j), g.kv_heads, g.dim_v});
  }
};

GatheredKv gather_kv(Communicator& comm, const RingGeometry& g, const TensorView& k,
                     const TensorView& v, RankStats& stats) {
  Stopwatch watch;
  const int P = comm.size(), me = comm.rank();
  const DType t = k.dtype;
  GatheredKv kv;
  int64_t total = 0;
  for (int j = 0; j < P; ++j) {
    kv.offsets.push_back(total);
    kv.sizes.push_back(g.batch * g.rows(j) * g.kv_heads * (g.dim + g.dim_v) * dtype_size(t));
    total += kv.sizes.back();
  }
  kv.bytes = ScratchBytes(size_t(total));
  ScratchBytes mine(static_cast<size_t>(kv.sizes[size_t(me)]));
  pack_view(k, mine.data());
  pack_view(v, mine.data() + g.batch * g.rows(me) * g.kv_heads * g.dim * dtype_size(t));
  comm.allgatherv(mine.data(), kv.sizes[size_t(me)], kv.bytes.data(), kv.sizes, kv.offsets);
  stats.comm_ms += watch.elapsed_ms();
  return kv;
}

}  // namespace

void allgather_forward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                       const TensorView& k, const TensorView& v, const AttentionSpec& spec,
                       const AttentionOptions& options, ScratchTensor& out, ScratchTensor& lse,
                       RankStats& stats) {
  const int P = comm.size(), me = comm.rank();
  const int64_t n = g.rows(me);
  out.reset(DType::f32, {g.batch, n, g.heads, g.dim_v});
  lse.reset(DType::f32, {g.batch, g.heads, n});
  out.zero();
  std::fill(lse.f32(), lse.f32() + lse.numel(), -std::numeric_limits<float>::infinity());
  const GatheredKv kv = gather_kv(comm, g, k, v, stats);
  Stopwatch watch;
  ScratchTensor tmp_out, tmp_lse;
  for (int j = 0; j < P; ++j) {
    const BlockCost c =
        accumulate_forward(q, g.member_runs[size_t(me)], kv.k(g, j, q.dtype), kv.v(g, j, q.dtype),
                           g.member_runs[size_t(j)], spec, out, lse, options, tmp_out, tmp_lse);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
  }
  stats.compute_ms += watch.elapsed_ms();
}

void allgather_backward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                        const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& lse, const TensorView& dout, const AttentionSpec& spec,
                        const AttentionOptions& options, ScratchTensor& dq, ScratchTensor& dk,
                        ScratchTensor& dv, RankStats& stats) {
  const int P = comm.size(), me = comm.rank();
  const int64_t n = g.rows(me);
  const GatheredKv kv = gather_kv(comm, g, k, v, stats);
  Stopwatch watch;
  dq.reset(DType::f32, {g.batch, n, g.heads, g.dim});
  dq.zero();
  // dK, dV of every member's block, laid out member after member for the reduce-scatter.
  std::vector<int64_t> counts(static_cast<size_t>(P)), offsets(static_cast<size_t>(P));
  int64_t total = 0;
  for (int j = 0; j < P; ++j) {
    offsets[size_t(j)] = total;
    counts[size_t(j)] = g.batch * g.rows(j) * g.kv_heads * (g.dim + g.dim_v);
    total += counts[size_t(j)];
  }
  WorkspaceBuffer<float> dkv(static_cast<size_t>(total));
  std::fill(dkv.data(), dkv.data() + total, 0.f);
  BackwardScratch scratch;
  for (int j = 0; j < P; ++j) {
    const int64_t m = g.rows(j);
    float* base = dkv.data() + offsets[size_t(j)];
    const TensorView dk_j =
        TensorView::contiguous(base, DType::f32, {g.batch, m, g.kv_heads, g.dim});
    const TensorView dv_j = TensorView::contiguous(base + g.batch * m * g.kv_heads * g.dim,
                                                   DType::f32, {g.batch, m, g.kv_heads, g.dim_v});
    const BlockCost c =
        accumulate_backward(q, g.member_runs[size_t(me)], kv.k(g, j, q.dtype), kv.v(g, j, q.dtype),
                            g.member_runs[size_t(j)], out, lse, dout, spec, dq, dk_j, dv_j,
                            /*dkv_zero=*/true, options, scratch);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
  }
  stats.compute_ms += watch.elapsed_ms();
  watch.restart();
  WorkspaceBuffer<float> home(static_cast<size_t>(counts[size_t(me)]));
  comm.reduce_scatter_sum(dkv.data(), home.data(), counts);
  stats.comm_ms += watch.elapsed_ms();
  dk.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim});
  dv.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim_v});
  const int64_t k_count = g.batch * n * g.kv_heads * g.dim;
  std::memcpy(dk.f32(), home.data(), size_t(k_count) * 4);
  std::memcpy(dv.f32(), home.data() + k_count, size_t(g.batch * n * g.kv_heads * g.dim_v) * 4);
}

}  // namespace longctx::dist
