// The all-gather schedule (see allgather_schedule.hpp).
#include "allgather_schedule.hpp"

#include <algorithm>
#include <limits>

#include "longctx/core/timer.hpp"
#include "view_memory.hpp"

namespace longctx::dist {
namespace {

// Every member's K and V, gathered: member j's [K: B, m_j, G, D][V: B, m_j, G, DV] at offset[j].
struct GatheredKv {
  std::unique_ptr<MessageBuffer> bytes;
  std::vector<int64_t> sizes, offsets;  // bytes per member
  TensorView k(const RingGeometry& g, int j, DType t) const {
    return TensorView::contiguous(bytes->data() + offsets[size_t(j)], t,
                                  {g.batch, g.rows(j), g.kv_heads, g.dim});
  }
  // Member me's queries against member j's block.
  BlockInputs inputs(const TensorView& q, const RingGeometry& g, int me, int j,
                     const AttentionSpec& spec, const AttentionOptions& options) const {
    return {q,
            g.member_runs[size_t(me)],
            k(g, j, q.dtype),
            v(g, j, q.dtype),
            g.member_runs[size_t(j)],
            spec,
            options};
  }
  TensorView v(const RingGeometry& g, int j, DType t) const {
    const int64_t k_bytes = g.batch * g.rows(j) * g.kv_heads * g.dim * dtype_size(t);
    return TensorView::contiguous(bytes->data() + offsets[size_t(j)] + k_bytes, t,
                                  {g.batch, g.rows(j), g.kv_heads, g.dim_v});
  }
};

GatheredKv gather_kv(Communicator& comm, const RingGeometry& g, const TensorView& k,
                     const TensorView& v, const ViewMemory& mem, RankStats& stats) {
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
  kv.bytes = mem.buffer(total);
  const auto mine = mem.buffer(kv.sizes[size_t(me)]);
  mem.pack(k, mine->data());
  mem.pack(v, mine->data() + g.batch * g.rows(me) * g.kv_heads * g.dim * dtype_size(t));
  comm.allgatherv(mine->data(), kv.sizes[size_t(me)], kv.bytes->data(), kv.sizes, kv.offsets);
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
  const ViewMemory& mem = schedule_memory(options.backend);
  out.zero();
  lse.fill(-std::numeric_limits<float>::infinity());
  const GatheredKv kv = gather_kv(comm, g, k, v, mem, stats);
  Stopwatch watch;
  ScratchTensor tmp_out(mem), tmp_lse(mem);
  for (int j = 0; j < P; ++j) {
    const BlockInputs in = kv.inputs(q, g, me, j, spec, options);
    const BlockCost c = accumulate_forward(in, out, lse, tmp_out, tmp_lse);
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
  const ViewMemory& mem = schedule_memory(options.backend);
  const GatheredKv kv = gather_kv(comm, g, k, v, mem, stats);
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
  ScratchTensor dkv(DType::f32, {1, 1, total}, mem);
  dkv.zero();
  BackwardScratch scratch(mem);
  for (int j = 0; j < P; ++j) {
    const int64_t m = g.rows(j);
    float* base = dkv.f32() + offsets[size_t(j)];
    const TensorView dk_j =
        TensorView::contiguous(base, DType::f32, {g.batch, m, g.kv_heads, g.dim});
    const TensorView dv_j = TensorView::contiguous(base + g.batch * m * g.kv_heads * g.dim,
                                                   DType::f32, {g.batch, m, g.kv_heads, g.dim_v});
    const BlockInputs in = kv.inputs(q, g, me, j, spec, options);
    const BlockCost c = accumulate_backward(in, {out, lse, dout}, {dq, dk_j, dv_j, true}, scratch);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
  }
  stats.compute_ms += watch.elapsed_ms();
  watch.restart();
  const auto home = mem.buffer(counts[size_t(me)] * 4);
  comm.reduce_scatter_sum(dkv.f32(), reinterpret_cast<float*>(home->data()), counts);
  stats.comm_ms += watch.elapsed_ms();
  dk.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim});
  dv.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim_v});
  const int64_t k_bytes = g.batch * n * g.kv_heads * g.dim * 4;
  mem.unpack(home->data(), dk.view());
  mem.unpack(home->data() + k_bytes, dv.view());
}

}  // namespace longctx::dist
