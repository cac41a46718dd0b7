// Ulysses all-to-alls (see head_exchange.hpp).
#include "head_exchange.hpp"

#include "longctx/core/timer.hpp"
#include "scratch.hpp"

namespace longctx::dist {
namespace {

int64_t bytes_of(const TensorView& t) {
  return t.numel() * dtype_size(t.dtype);
}

}  // namespace

HeadSplit split_heads(int64_t heads, int u) {
  HeadSplit s;
  for (int i = 0; i < u; ++i) {
    s.begin.push_back(i * (heads / u));
    s.count.push_back(heads / u);
  }
  return s;
}

HeadSplit split_kv_heads(int64_t kv_heads, int u) {
  if (kv_heads % u == 0) return split_heads(kv_heads, u);
  HeadSplit s;  // u % kv_heads == 0: member i's query heads all use KV head i·G/U
  for (int i = 0; i < u; ++i) {
    s.begin.push_back(int64_t(i) * kv_heads / u);
    s.count.push_back(1);
  }
  return s;
}

void to_heads(Communicator& inner, const TensorView& src, const HeadSplit& split,
              const std::vector<int64_t>& member_rows, const TensorView& dst, RankStats& stats,
              const ViewMemory& memory) {
  Stopwatch watch;
  const int U = inner.size(), me = inner.rank();
  const int64_t es = dtype_size(src.dtype);
  std::vector<int64_t> send_bytes(static_cast<size_t>(U)), send_off(static_cast<size_t>(U)),
      recv_bytes(static_cast<size_t>(U)), recv_off(static_cast<size_t>(U)),
      row_off(static_cast<size_t>(U));
  int64_t total_send = 0, total_recv = 0, rows = 0;
  for (int v = 0; v < U; ++v) {
    send_off[size_t(v)] = total_send;
    send_bytes[size_t(v)] =
        bytes_of(slice_rows(src, 2, split.begin[size_t(v)], split.count[size_t(v)]));
    total_send += send_bytes[size_t(v)];
    recv_off[size_t(v)] = total_recv;
    recv_bytes[size_t(v)] =
        src.dim(0) * member_rows[size_t(v)] * split.count[size_t(me)] * src.dim(3) * es;
    total_recv += recv_bytes[size_t(v)];
    row_off[size_t(v)] = rows;
    rows += member_rows[size_t(v)];
  }
  const auto send = memory.buffer(total_send), recv = memory.buffer(total_recv);
  for (int v = 0; v < U; ++v)
    memory.pack(slice_rows(src, 2, split.begin[size_t(v)], split.count[size_t(v)]),
                send->data() + send_off[size_t(v)]);
  inner.alltoallv(send->data(), send_bytes, send_off, recv->data(), recv_bytes, recv_off);
  for (int v = 0; v < U; ++v)
    memory.unpack(recv->data() + recv_off[size_t(v)],
                  slice_rows(dst, 1, row_off[size_t(v)], member_rows[size_t(v)]));
  stats.comm_ms += watch.elapsed_ms();
}

void to_sequence(Communicator& inner, const TensorView& src, const HeadSplit& split,
                 const std::vector<int64_t>& member_rows, const TensorView& dst, RankStats& stats,
                 const ViewMemory& memory) {
  Stopwatch watch;
  const int U = inner.size(), me = inner.rank();
  const int64_t B = src.dim(0), W = src.dim(3), n_me = member_rows[size_t(me)];
  std::vector<int64_t> send_bytes(static_cast<size_t>(U)), send_off(static_cast<size_t>(U)),
      recv_bytes(static_cast<size_t>(U)), recv_off(static_cast<size_t>(U));
  int64_t total_send = 0, total_recv = 0, rows = 0;
  std::vector<int64_t> row_off(static_cast<size_t>(U));
  for (int v = 0; v < U; ++v) {
    row_off[size_t(v)] = rows;
    rows += member_rows[size_t(v)];
    send_off[size_t(v)] = total_send;
    send_bytes[size_t(v)] = B * member_rows[size_t(v)] * split.count[size_t(me)] * W * 4;
    total_send += send_bytes[size_t(v)];
    recv_off[size_t(v)] = total_recv;
    recv_bytes[size_t(v)] = B * n_me * split.count[size_t(v)] * W * 4;
    total_recv += recv_bytes[size_t(v)];
  }
  const auto send = memory.buffer(total_send), recv = memory.buffer(total_recv);
  for (int v = 0; v < U; ++v)
    memory.pack(slice_rows(src, 1, row_off[size_t(v)], member_rows[size_t(v)]),
                send->data() + send_off[size_t(v)]);
  inner.alltoallv(send->data(), send_bytes, send_off, recv->data(), recv_bytes, recv_off);
  // Zero dst, then add each member's heads (replicated KV heads receive several terms).
  memory.fill(dst, 0.f);
  for (int v = 0; v < U; ++v)
    memory.add(reinterpret_cast<const float*>(recv->data() + recv_off[size_t(v)]),
               slice_rows(dst, 2, split.begin[size_t(v)], split.count[size_t(v)]));
  stats.comm_ms += watch.elapsed_ms();
}

}  // namespace longctx::dist
