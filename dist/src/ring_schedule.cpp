// The ring schedule, forward and backward (see ring_schedule.hpp), on the host (CPU kernels) or
// on the device (CUDA kernels, device communicator): buffers and view copies go through the
// backend's ViewMemory, the per-block work through accumulate_forward / accumulate_backward.
//
// Step s on member r uses the KV block of member (r − s) mod R. Before computing on the current
// block the member posts, as one grouped exchange, the receive of the next block from r − 1 and
// the send of the current one to r + 1, so the transfer runs behind the compute (and a backend
// whose sends wait for their receives, NCCL, cannot deadlock); the time spent waiting
// afterwards is the exposed communication.
// Backward: the same KV rotation; the float32 dK, dV of a block travel with it one step behind
// (in the same exchange), each member adds its contribution, and after the last step they go
// straight home to the block's owner.
#include "ring_schedule.hpp"

#include <algorithm>
#include <limits>

#include "longctx/core/timer.hpp"
#include "view_memory.hpp"

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
  std::unique_ptr<MessageBuffer> bytes;
  char* data() const { return bytes->data(); }
  TensorView k(const RingGeometry& g, int64_t m, DType t) const {
    return TensorView::contiguous(data(), t, {g.batch, m, g.kv_heads, g.dim});
  }
  TensorView v(const RingGeometry& g, int64_t m, DType t) const {
    const int64_t k_bytes = g.batch * m * g.kv_heads * g.dim * dtype_size(t);
    return TensorView::contiguous(data() + k_bytes, t, {g.batch, m, g.kv_heads, g.dim_v});
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

// Two KV buffers (one when nothing travels), the first holding this member's K and V.
void make_kv_blocks(const ViewMemory& mem, const RingGeometry& g, const TensorView& k,
                    const TensorView& v, int64_t rows_cap, bool travels, KvBlock (&blocks)[2]) {
  const DType t = k.dtype;
  blocks[0].bytes = mem.buffer(kv_bytes(g, rows_cap, t));
  if (travels) blocks[1].bytes = mem.buffer(kv_bytes(g, rows_cap, t));
  mem.pack(k, blocks[0].data());
  mem.pack(v, blocks[0].data() + g.batch * k.dim(1) * g.kv_heads * g.dim * dtype_size(t));
}

Transfer send_to(const void* data, int64_t bytes, int peer, int tag) {
  return Transfer{Transfer::Kind::send, const_cast<void*>(data), bytes, peer, tag};
}
Transfer recv_from(void* data, int64_t bytes, int peer, int tag) {
  return Transfer{Transfer::Kind::recv, data, bytes, peer, tag};
}

// This member's queries against the KV block of member src, held in kv.
BlockInputs block_inputs(const TensorView& q, const RingGeometry& g, int me, int src,
                         const KvBlock& kv, const AttentionSpec& spec,
                         const AttentionOptions& options) {
  const int64_t m = g.rows(src);
  return {q,
          g.member_runs[size_t(me)],
          kv.k(g, m, q.dtype),
          kv.v(g, m, q.dtype),
          g.member_runs[size_t(src)],
          spec,
          options};
}

// count floats as a [1, 1, count] float32 view (for fill / add).
TensorView floats(float* data, int64_t count) {
  return TensorView::contiguous(data, DType::f32, {1, 1, count});
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
  const ViewMemory& mem = schedule_memory(options.backend);
  Stopwatch watch;

  out.reset(DType::f32, {g.batch, n, g.heads, g.dim_v});
  lse.reset(DType::f32, {g.batch, g.heads, n});
  out.zero();
  lse.fill(-std::numeric_limits<float>::infinity());
  KvBlock blocks[2];
  make_kv_blocks(mem, g, k, v, last > 0 ? max_rows(g) : n, last > 0, blocks);
  stats.comm_ms += watch.elapsed_ms();

  ScratchTensor tmp_out(mem), tmp_lse(mem);
  for (int s = 0; s <= last; ++s) {
    const int src = mod(me - s, R);
    const KvBlock& cur = blocks[s % 2];
    const KvBlock& next = blocks[(s + 1) % 2];
    Request moving;
    watch.restart();
    if (s < last) {
      const int next_src = mod(me - s - 1, R);
      const Transfer ops[] = {
          recv_from(next.data(), kv_bytes(g, g.rows(next_src), t), mod(me - 1, R), kTagKv),
          send_to(cur.data(), kv_bytes(g, g.rows(src), t), mod(me + 1, R), kTagKv)};
      moving = comm.exchange(ops);
    }
    stats.comm_ms += watch.elapsed_ms();

    watch.restart();
    const BlockInputs in = block_inputs(q, g, me, src, cur, spec, options);
    const BlockCost c = accumulate_forward(in, out, lse, tmp_out, tmp_lse);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
    stats.compute_ms += watch.elapsed_ms();

    watch.restart();
    moving.wait();
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
  const ViewMemory& mem = schedule_memory(options.backend);
  Stopwatch watch;

  dq.reset(DType::f32, {g.batch, n, g.heads, g.dim});
  dq.zero();
  KvBlock blocks[2];
  const int64_t rows_cap = last > 0 ? max_rows(g) : n;
  make_kv_blocks(mem, g, k, v, rows_cap, last > 0, blocks);
  // dK, dV of a block, [dK: B, m, G, D][dV: B, m, G, DV] float32. travel[s % 2] holds the block
  // of step s: it receives what the previous members accumulated, absorbs this member's part and
  // moves on with the next step's exchange, while the other buffer receives. Step 0 computes in
  // place.
  const int64_t cap = dkv_floats(g, rows_cap) * 4;
  std::unique_ptr<MessageBuffer> travel[2], part;
  travel[0] = mem.buffer(cap);
  if (last > 0) {
    travel[1] = mem.buffer(cap);
    part = mem.buffer(cap);
  }
  stats.comm_ms += watch.elapsed_ms();

  BackwardScratch scratch(mem);
  for (int s = 0; s <= last; ++s) {
    const int src = mod(me - s, R), left = mod(me - 1, R), right = mod(me + 1, R);
    const int64_t m = g.rows(src), count = dkv_floats(g, m);
    const KvBlock& cur = blocks[s % 2];
    const KvBlock& next = blocks[(s + 1) % 2];
    float* held = reinterpret_cast<float*>(travel[s % 2]->data());
    float* mine = s == 0 ? held : reinterpret_cast<float*>(part->data());
    watch.restart();
    Transfer ops[4];
    int n_ops = 0;
    if (s < last) {
      ops[n_ops++] =
          recv_from(next.data(), kv_bytes(g, g.rows(mod(me - s - 1, R)), t), left, kTagKv);
      ops[n_ops++] = send_to(cur.data(), kv_bytes(g, m, t), right, kTagKv);
    }
    if (s > 0) {  // the previous step's block moves on; this one arrives from the left
      ops[n_ops++] = recv_from(held, count * 4, left, kTagDkv);
      ops[n_ops++] = send_to(travel[(s + 1) % 2]->data(),
                             dkv_floats(g, g.rows(mod(src + 1, R))) * 4, right, kTagDkv);
    }
    Request moving = comm.exchange(std::span<const Transfer>(ops, size_t(n_ops)));
    stats.comm_ms += watch.elapsed_ms();

    watch.restart();
    const TensorView dk_part =
        TensorView::contiguous(mine, DType::f32, {g.batch, m, g.kv_heads, g.dim});
    const TensorView dv_part = TensorView::contiguous(
        mine + g.batch * m * g.kv_heads * g.dim, DType::f32, {g.batch, m, g.kv_heads, g.dim_v});
    mem.fill(floats(mine, count), 0.f);
    const BlockInputs in = block_inputs(q, g, me, src, cur, spec, options);
    const BlockCost c =
        accumulate_backward(in, {out, lse, dout}, {dq, dk_part, dv_part, true}, scratch);
    stats.flops += c.flops;
    (c.computed ? stats.steps_computed : stats.steps_skipped) += 1;
    stats.compute_ms += watch.elapsed_ms();

    watch.restart();
    moving.wait();
    stats.wait_ms += watch.elapsed_ms();
    if (s > 0) {  // add this member's part to what the previous members accumulated
      watch.restart();
      mem.add(mine, floats(held, count));
      stats.compute_ms += watch.elapsed_ms();
    }
    if (s < last) continue;

    // Home: the block of `src` goes to its owner; this member's own block is held by member
    // me + last and lands in the other travel buffer (its last send is done).
    watch.restart();
    dk.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim});
    dv.reset(DType::f32, {g.batch, n, g.kv_heads, g.dim_v});
    const float* home = held;
    if (last > 0) {
      float* arrival = reinterpret_cast<float*>(travel[(s + 1) % 2]->data());
      const Transfer home_ops[] = {
          recv_from(arrival, dkv_floats(g, n) * 4, mod(me + last, R), kTagHome),
          send_to(held, count * 4, src, kTagHome)};
      Request homing = comm.exchange(home_ops);
      stats.comm_ms += watch.elapsed_ms();
      watch.restart();
      homing.wait();
      stats.wait_ms += watch.elapsed_ms();
      home = arrival;
    }
    const int64_t k_count = g.batch * n * g.kv_heads * g.dim;
    mem.unpack(reinterpret_cast<const char*>(home), dk.view());
    mem.unpack(reinterpret_cast<const char*>(home + k_count), dv.view());
  }
}

}  // namespace longctx::dist
