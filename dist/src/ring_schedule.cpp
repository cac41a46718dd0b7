// The ring schedule, forward and backward (see ring_schedule.hpp).
//
// Step s on member r uses the KV block of member (r − s) mod R. Before computing on the current
// block the member posts the receive of the next block from r − 1 and the send of the current
// one to r + 1 (both non-blocking, posted together: no deadlock), so the transfer runs behind
// the compute; the time spent waiting afterwards is the exposed communication.
// Backward: the same KV rotation; the float32 dK, dV of a block travel with it, each member adds
// its contribution, and after the last step they go straight home to the block's owner.
#include "ring_schedule.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "longctx/core/timer.hpp"
#include "pack.hpp"

namespace longctx::dist {
namespace {

constexpr int kTagKv = 401;
constexpr int kTagDkv = 402;
constexpr int kTagHome = 403;

int mod(int a, int b) {
  return ((a % b) + b) % b;
}

// A KV block in transit: [K: B, m, G, D][V: B, m, G, DV] of the storage dtype, contiguous.
struct KvBlock {
  ScratchBytes bytes;
  TensorView k(const RingGeometry& g, int64_t m, DType t) const {
    return TensorView::contiguous(const_cast<char*>(bytes.data()), t,
                                  {g.batch, m, g.kv_heads, g.dim});
  }
  TensorView v(const RingGeometry& g, int64_t m, DType t) const {
    const int64_t k_bytes = g.batch * m * g.kv_heads * g.dim * dtype_size(t);
    return TensorView::contiguous(const_cast<char*>(bytes.data()) + k_bytes, t,
                                  {g.batch, m, g.kv_heads, g.dim_v});
  }
};

int64_t kv_bytes(const RingGeometry& g, int64_t m, DType t) {
  return g.batch * m * g.kv_heads * (g.dim + g.dim_v) * dtype_size(t);
}
int64_t dkv_floats(const RingGeometry& g, int64_t m) {
  return g.batch * m * g.kv_heads * (g.dim + g.dim_v);
}

int64_t max_rows(const RingGeometry& g) {
  int64_t m = 0;
  for (size_t i = 0; i < g.member_runs.size(); ++i) m = std::max(m, g.rows(int(i)));
  return m;
}

}  // namespace

int64_t RingGeometry::rows(int member) const {
  int64_t n = 0;
  for (const Run& r : member_runs[size_t(member)]) n += r.length;
  return n;
}

int ring_last_step(const RingGeometry& g, const AttentionSpec& spec) {
  const int R = int(g.member_runs.size());
  int last = 0;
  for (int r = 0; r < R; ++r)
    for (int s = 1; s < R; ++s)
      if (runs_may_see(g.member_runs[size_t(r)], g.member_runs[size_t(mod(r - s, R))], spec))
        last = std::max(last, s);
  return last;
}

void ring_forward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                  const TensorView& k, const TensorView& v, const AttentionSpec& spec,
                  const AttentionOptions& options, ScratchTensor& out, ScratchTensor& lse,
                  RankStats& stats) {
  const int R = comm.size(), me = comm.rank();
  const DType t = q.dtype;
  const int64_t n = g.rows(me);
  const int last = ring_last_step(g, spec);
  Stopwatch watch;

  out.reset(DType::f32, {g.batch, n, g.heads, g.dim_v});
  lse.reset(DType::f32, {g.batch, g.heads, n});
  out.zero();
  std::fill(lse.f32(), lse.f32() + lse.numel(), -std::numeric_limits<float>::infinity());

  KvBlock blocks[2];
  const int64_t cap = kv_bytes(g, last > 0 ? max_rows(g) : n, t);
  blocks[0].bytes = ScratchBytes(size_t(cap));
  if (last > 0) blocks[1].bytes = ScratchBytes(size_t(cap));
  pack_view(k, blocks[0].bytes.data());
  pack_view(v, blocks[0].bytes.data() + g.batch * n * g.kv_heads * g.dim * dtype_size(t));
  stats.comm_ms += watch.elapsed_ms();

  ScratchTensor tmp_out, tmp_lse;
  for (int s = 0; s <= last; ++s) {
    const int src = mod(me - s, R);
    const KvBlock& cur = blocks[s % 2];
    KvBlock& next = blocks[(s + 1) % 2];
    Request send, recv;
    watch.restart();
    if (s < last) {
      const int next_src = mod(me - s - 1, R);
      recv =
          comm.irecv(next.bytes.data(), kv_bytes(g, g.rows(next_src), t), mod(me - 1, R), kTagKv);
      send = comm.isend(cur.bytes.data(), kv_bytes(g, g.rows(src), t), mod(me + 1, R), kTagKv);
    }
    stats.comm_ms += watch.elapsed_ms();

    watch.restart();
    const int64_t m = g.rows(src);
    const BlockCost c =
        accumulate_forward(q, g.member_runs[size_t(me)], cur.k(g, m, t), cur.v(g, m, t),
                           g.member_runs[size_t(src)], spec, out, lse, options, tmp_out, tmp_lse);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
    stats.compute_ms += watch.elapsed_ms();

    watch.restart();
    send.wait();
    recv.wait();
    stats.wait_ms += watch.elapsed_ms();
  }
}

void ring_backward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                   const TensorView& k, const TensorView& v, const TensorView& out,
                   const TensorView& lse, const TensorView& dout, const AttentionSpec& spec,
                   const AttentionOptions& options, ScratchTensor& dq, ScratchTensor& dk,
                   ScratchTensor& dv, RankStats& stats) {
  const int R = comm.size(), me = comm.rank();
  const DType t = q.dtype;
  const int64_t n = g.rows(me);
  const int last = ring_last_step(g, spec);
  const int threads = std::max(1, options.threads);
  Stopwatch watch;

  dq.reset(DType::f32, {g.batch, n, g.heads, g.dim});
  dq.zero();
  KvBlock blocks[2];
  const int64_t rows_cap = last > 0 ? max_rows(g) : n;
  blocks[0].bytes = ScratchBytes(static_cast<size_t>(kv_bytes(g, rows_cap, t)));
  if (last > 0) blocks[1].bytes = ScratchBytes(static_cast<size_t>(kv_bytes(g, rows_cap, t)));
  pack_view(k, blocks[0].bytes.data());
  pack_view(v, blocks[0].bytes.data() + g.batch * n * g.kv_heads * g.dim * dtype_size(t));
  // dK, dV of a block, [dK: B, m, G, D][dV: B, m, G, DV] float32. travel[s % 2] holds the block
  // of step s: it receives what the previous members accumulated, absorbs this member's part and
  // moves on, while the other buffer is still being sent. Step 0 computes in place.
  const size_t cap = static_cast<size_t>(dkv_floats(g, rows_cap));
  WorkspaceBuffer<float> travel[2], part;
  travel[0] = WorkspaceBuffer<float>(cap);
  if (last > 0) {
    travel[1] = WorkspaceBuffer<float>(cap);
    part = WorkspaceBuffer<float>(cap);
  }
  stats.comm_ms += watch.elapsed_ms();

  BackwardScratch scratch;
  Request travel_send;  // the send of the previous step's buffer
  for (int s = 0; s <= last; ++s) {
    const int src = mod(me - s, R);
    const int64_t m = g.rows(src), count = dkv_floats(g, m);
    const KvBlock& cur = blocks[s % 2];
    KvBlock& next = blocks[(s + 1) % 2];
    float* held = travel[s % 2].data();  // its previous send completed when travel_send moved on
    float* mine = s == 0 ? held : part.data();
    Request send, recv, dkv_recv;
    watch.restart();
    if (s < last) {
      const int next_src = mod(me - s - 1, R);
      recv =
          comm.irecv(next.bytes.data(), kv_bytes(g, g.rows(next_src), t), mod(me - 1, R), kTagKv);
      send = comm.isend(cur.bytes.data(), kv_bytes(g, m, t), mod(me + 1, R), kTagKv);
    }
    if (s > 0) dkv_recv = comm.irecv(held, count * 4, mod(me - 1, R), kTagDkv);
    stats.comm_ms += watch.elapsed_ms();

    watch.restart();
    std::fill(mine, mine + count, 0.f);
    const TensorView dk_part =
        TensorView::contiguous(mine, DType::f32, {g.batch, m, g.kv_heads, g.dim});
    const TensorView dv_part = TensorView::contiguous(
        mine + g.batch * m * g.kv_heads * g.dim, DType::f32, {g.batch, m, g.kv_heads, g.dim_v});
    const BlockCost c = accumulate_backward(
        q, g.member_runs[size_t(me)], cur.k(g, m, t), cur.v(g, m, t), g.member_runs[size_t(src)],
        out, lse, dout, spec, dq, dk_part, dv_part, /*dkv_zero=*/true, options, scratch);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
    stats.compute_ms += watch.elapsed_ms();

    if (s > 0) {  // add this member's part to what the previous members accumulated
      watch.restart();
      dkv_recv.wait();
      stats.wait_ms += watch.elapsed_ms();
      watch.restart();
      const float* p = part.data();
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int64_t i = 0; i < count; ++i) held[i] += p[i];
      stats.compute_ms += watch.elapsed_ms();
    }

    watch.restart();
    if (s < last) {
      travel_send = comm.isend(held, count * 4, mod(me + 1, R), kTagDkv);
      stats.comm_ms += watch.elapsed_ms();
    } else {
      // Home: the block of `src` goes to its owner; this member's own block is held by member
      // me + last and lands in the other travel buffer once its last send is done.
      dk.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim});
      dv.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim_v});
      const float* home = held;
      Request home_send, home_recv;
      if (last > 0) {
        travel_send.wait();
        float* arrival = travel[(s + 1) % 2].data();
        home_recv = comm.irecv(arrival, dkv_floats(g, n) * 4, mod(me + last, R), kTagHome);
        home_send = comm.isend(held, count * 4, src, kTagHome);
        home = arrival;
      }
      stats.comm_ms += watch.elapsed_ms();
      watch.restart();
      home_recv.wait();
      home_send.wait();
      stats.wait_ms += watch.elapsed_ms();
      const int64_t k_count = g.batch * n * g.kv_heads * g.dim;
      std::memcpy(dk.f32(), home, static_cast<size_t>(k_count) * 4);
      std::memcpy(dv.f32(), home + k_count,
                  static_cast<size_t>(g.batch * n * g.kv_heads * g.dim_v) * 4);
    }

    watch.restart();
    send.wait();
    recv.wait();
    stats.wait_ms += watch.elapsed_ms();
  }
}

}  // namespace longctx::dist
