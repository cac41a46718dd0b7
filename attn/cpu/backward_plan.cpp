// How the CPU backward splits its work into tasks: the number of head splits and key-block
// chunks per (batch, KV head), and the query rows each chunk's dQ accumulator must cover.
// Everything here derives from the problem (sizes, mask layout) and fixed constants, never from
// the thread count, so that results are bit-for-bit independent of it.
#include <algorithm>

#include "cpu/backward_work-inl.h"

namespace longctx::cpu::backward_detail {
namespace {

// Enough independent tasks to keep a few cores busy when batch × KV heads is small (one head,
// one sequence). A constant on purpose: tying it to the thread count would tie the summation
// order, hence the rounding, to it.
constexpr int64_t kTargetTasks = 16;
// Bound on the float32 buffers beyond one dQ accumulator (chunk accumulators that overlap,
// per-split dK/dV): this or dQ's own size, whichever is larger.
constexpr int64_t kExtraBudgetBytes = int64_t(256) << 20;

// Chunk boundaries for `chunks` contiguous, equally long ranges of key blocks, and the query
// rows each (batch, chunk) reaches; returns the dQ accumulator floats they need.
int64_t chunk_rows(const BackwardWork& w, int64_t chunks, std::vector<int64_t>& begin,
                   std::vector<DqChunk>& dq_chunks) {
  const int64_t key_blocks = w.num_key_blocks();
  begin.resize(size_t(chunks + 1));
  for (int64_t c = 0; c <= chunks; ++c) begin[size_t(c)] = c * key_blocks / chunks;
  dq_chunks.assign(size_t(w.batch * chunks), DqChunk{});
  int64_t floats = 0;
  for (int64_t b = 0; b < w.batch; ++b) {
    const BlockLayout& layout = w.layout(b);
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t lo = layout.num_q_blocks(), hi = 0;  // query blocks [lo, hi)
      for (int64_t kb = begin[size_t(c)]; kb < begin[size_t(c) + 1]; ++kb) {
        const auto query_blocks = layout.query_blocks(kb);
        if (query_blocks.empty()) continue;
        lo = std::min<int64_t>(lo, query_blocks.front().block);
        hi = std::max<int64_t>(hi, query_blocks.back().block + 1);
      }
      DqChunk& ch = dq_chunks[size_t(b * chunks + c)];
      if (lo < hi) {
        ch.q_lo = layout.q_begin(lo);
        ch.q_hi = layout.q_end(hi - 1);
      }
      ch.offset = floats;
      floats += w.heads * (ch.q_hi - ch.q_lo) * w.dim_pad;
    }
  }
  return floats;
}

}  // namespace

void plan_work_split(BackwardWork& w) {
  const int64_t pairs = w.batch * w.kv_heads;
  const int64_t need = (kTargetTasks + pairs - 1) / pairs;  // tasks per (batch, KV head)
  const int64_t dq_bytes = w.batch * w.heads * w.n * w.dim_pad * int64_t(sizeof(float));
  const int64_t dkv_bytes =
      w.batch * w.kv_heads * w.m * (w.dim_pad + w.dim_v_pad) * int64_t(sizeof(float));
  const int64_t budget = dq_bytes + std::max(kExtraBudgetBytes, dq_bytes);
  std::vector<int64_t> begin;
  std::vector<DqChunk> dq_chunks;
  // Among (splits, chunks) within the budget: the most tasks (up to `need`), then the fewest
  // bytes. (1, 1) is always allowed: it needs exactly one dQ accumulator and nothing else.
  int64_t best_tasks = 0, best_bytes = 0, best_splits = 1, best_chunks = 1;
  for (int64_t splits = 1; splits <= std::min(w.group, need); ++splits) {
    const int64_t chunks = std::min(w.num_key_blocks(), (need + splits - 1) / splits);
    const int64_t bytes = chunk_rows(w, chunks, begin, dq_chunks) * int64_t(sizeof(float)) +
                          (splits > 1 ? splits * dkv_bytes : 0);
    const int64_t tasks = std::min(need, splits * chunks);
    if (bytes > budget && !(splits == 1 && chunks == 1)) continue;
    if (tasks > best_tasks || (tasks == best_tasks && bytes < best_bytes)) {
      best_tasks = tasks;
      best_bytes = bytes;
      best_splits = splits;
      best_chunks = chunks;
    }
  }
  w.head_splits = best_splits;
  w.chunks = best_chunks;
  w.dq_floats = chunk_rows(w, w.chunks, w.chunk_begin, w.dq_chunks);
}

std::array<int64_t, 7> call_buffer_floats(const BackwardWork& w, bool q_in_place,
                                          bool dout_in_place) {
  const int64_t rows = w.batch * w.heads * w.n;
  const int64_t key_rows = w.head_splits > 1 ? w.batch * w.kv_heads * w.m : 0;
  return {q_in_place ? 0 : rows * w.dim_pad,
          dout_in_place ? 0 : rows * w.dim_v_pad,
          rows,
          rows,
          w.dq_floats,
          w.head_splits * key_rows * w.dim_pad,
          w.head_splits * key_rows * w.dim_v_pad};
}

}  // namespace longctx::cpu::backward_detail
