// CPU FlashAttention-2 forward: work decomposition, packing and output (the SIMD inner loops
// live in forward_kernel.cpp).
//
// Plan of one call:
//   1. Compile the mask to a block layout: once, or once per batch when document ids exist
//      (only they depend on the batch).
//   2. Walk the (batch, kv head) pairs in chunks whose packed K/V fit a fixed budget; per chunk
//      pack K into panels and V into f32 rows (pack.hpp), in parallel over key blocks.
//   3. In parallel over (pair, query head of its group, query block), pair by pair and within
//      a pair longest rows of the layout first, with dynamic scheduling, run the kernel on a
//      pre-scaled f32 query tile and write O = acc / l, LSE = ln 2 · (m + log2 l).
// Extra memory: the packed chunk (≥ one kv head: O(M·(D+DV))) and per-thread tiles
// (O(block_q·(D + DV + block_k))), never O(N·M).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "cpu/cpu_attention.hpp"
#include "cpu/forward_kernel.hpp"
#include "cpu/pack.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"

namespace longctx::cpu {
namespace {

// Defaults: a 96-row query tile (16 row tiles of 6, so only the last query block pads rows)
// and 128-key blocks. At D = DV = 128 the f32 query tile, accumulators and the 96×128 score
// tile (48 + 48 + 48 KiB) stay in L2 (1 MiB); one 64-key column tile of K panels (32 KiB)
// stays in L1 (48 KiB) while all row tiles stream it. Measured on Zen 5: 128-key blocks beat
// 64 by ~8% (fewer accumulator rescales), 256 gains little more and pads the last block more.
constexpr int kDefaultBlockQ = 96;
constexpr int kDefaultBlockK = 128;
// Packed K/V of several kv heads are kept together up to this size (at least one head).
constexpr int64_t kPackBudgetBytes = int64_t(64) << 20;

struct WorkItem {
  int64_t pair;         // index of (batch, kv head) within the chunk
  int64_t head_in_grp;  // query head within the kv head's group
  int64_t query_block;
  int64_t cost;  // non-empty key blocks
};

// Per-thread tiles of the kernel.
struct ThreadTiles {
  WorkspaceBuffer<float> q, scores, acc, row_max, row_sum, alpha;
  ThreadTiles(int64_t rows_padded, int64_t dim, int64_t score_cols, int64_t dv_stride)
      : q(size_t(rows_padded * dim)),
        scores(size_t(rows_padded * score_cols)),
        acc(size_t(rows_padded * dv_stride)),
        row_max(size_t(rows_padded)),
        row_sum(size_t(rows_padded)),
        alpha(size_t(rows_padded)) {}
};

}  // namespace

void forward(const ForwardProblem& p, const TensorView& out, const TensorView& lse,
             const CpuOptions& options) {
  check_forward_outputs(p, out, lse);
  LONGCTX_CHECK_ARG(options.block_q >= 0, "block_q", ">= 0 (0 = automatic)", options.block_q);
  LONGCTX_CHECK_ARG(options.block_k >= 0, "block_k", ">= 0 (0 = automatic)", options.block_k);
  const AttentionShape& s = p.shape;
  const int threads = resolve_threads(options.threads);
  const int block_q = options.block_q > 0 ? options.block_q : kDefaultBlockQ;
  const int block_k = options.block_k > 0 ? options.block_k : kDefaultBlockK;

  std::vector<BlockLayout> layouts;  // [1] or [B]
  const int64_t num_layouts = p.mask.has_docs() ? s.batch : 1;
  for (int64_t b = 0; b < num_layouts; ++b)
    layouts.push_back(BlockLayout::build(p.mask, b, block_q, block_k));
  const int64_t num_q_blocks = layouts[0].num_q_blocks();
  const int64_t num_k_blocks = layouts[0].num_k_blocks();

  const int64_t dim = s.dim, dim_v = s.dim_v, group = s.group();
  // Blocks never hold more rows than the sequences have: size buffers by the real extents.
  const int64_t max_q_rows = std::min<int64_t>(block_q, s.n);
  const int64_t max_k_rows = std::min<int64_t>(block_k, s.m);
  const int64_t key_block_floats = packed_key_block_floats(max_k_rows, dim);
  const int64_t dv_stride = packed_value_stride(dim_v);
  const int64_t keys_floats = num_k_blocks * key_block_floats;  // packed K of one kv head
  const int64_t pair_floats = keys_floats + s.m * dv_stride;    // + packed V
  const int64_t num_pairs = s.batch * s.kv_heads;
  const int64_t chunk =
      std::clamp<int64_t>(kPackBudgetBytes / (pair_floats * int64_t(sizeof(float))), 1, num_pairs);
  WorkspaceBuffer<float> packed(size_t(chunk * pair_floats));  // [chunk][K panels, V rows]

  const int64_t rows_padded = round_up(max_q_rows, kQueryRowTile);
  const int64_t score_stride = round_up(max_k_rows, kPanelWidth);
  std::vector<ThreadTiles> tiles;  // allocated here so that no allocation throws inside OpenMP
  tiles.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t) tiles.emplace_back(rows_padded, dim, score_stride, dv_stride);

  const float q_scale = p.scale * std::numbers::log2e_v<float>;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const double ln2 = std::numbers::ln2;

  std::vector<WorkItem> items;
  for (int64_t first = 0; first < num_pairs; first += chunk) {
    const int64_t count = std::min(chunk, num_pairs - first);

    items.clear();
    for (int64_t pair = 0; pair < count; ++pair) {
      const BlockLayout& L = layouts[p.mask.has_docs() ? (first + pair) / s.kv_heads : 0];
      for (int64_t hg = 0; hg < group; ++hg)
        for (int64_t qb = 0; qb < num_q_blocks; ++qb)
          items.push_back({pair, hg, qb, int64_t(L.key_blocks(qb).size())});
    }
    // Longest rows first (causal work is unbalanced) but one kv head at a time: interleaving
    // heads by cost made the threads stream every head's packed K/V at once, which misses in
    // L3 (measured: causal 179 → 201 GFLOP/s on one thread at N = 8192, H = 4).
    std::stable_sort(items.begin(), items.end(), [](const WorkItem& x, const WorkItem& y) {
      return x.pair != y.pair ? x.pair < y.pair : x.cost > y.cost;
    });

#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < count * num_k_blocks; ++t) {
        const int64_t pair = t / num_k_blocks, kb = t % num_k_blocks;
        const int64_t b = (first + pair) / s.kv_heads, g = (first + pair) % s.kv_heads;
        const int64_t k0 = kb * block_k, k1 = std::min(s.m, k0 + block_k);
        float* base = packed.data() + pair * pair_floats;
        pack_key_panels(p.k, b, g, k0, k1, base + kb * key_block_floats);
        pack_value_rows(p.v, b, g, k0, k1, dv_stride, base + keys_floats + k0 * dv_stride);
      }  // implicit barrier: every thread sees the whole chunk packed

      ThreadTiles& tile = tiles[size_t(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
      for (size_t t = 0; t < items.size(); ++t) {
        const WorkItem& item = items[t];
        const int64_t b = (first + item.pair) / s.kv_heads, g = (first + item.pair) % s.kv_heads;
        const int64_t h = g * group + item.head_in_grp;
        const BlockLayout& L = layouts[p.mask.has_docs() ? b : 0];
        const int64_t q0 = L.q_begin(item.query_block), q1 = L.q_end(item.query_block);
        const int64_t rows = q1 - q0;
        const int64_t tile_rows = round_up(rows, kQueryRowTile);

        load_scaled_rows(p.q, b, h, q0, q1, q_scale, dim, tile.q.data());  // [rows][D]
        std::fill(tile.q.data() + rows * dim, tile.q.data() + tile_rows * dim, 0.f);

        const float* base = packed.data() + item.pair * pair_floats;
        ForwardBlockArgs args;
        args.key_panels = base;
        args.key_block_floats = key_block_floats;
        args.values = base + keys_floats;
        args.dv_stride = dv_stride;
        args.dim = dim;
        args.layout = &L;
        args.mask = &p.mask;
        args.batch = b;
        args.query_block = item.query_block;
        args.q = tile.q.data();
        args.rows_padded = tile_rows;
        args.scores = tile.scores.data();
        args.score_stride = score_stride;
        args.acc = tile.acc.data();
        args.row_max = tile.row_max.data();
        args.row_sum = tile.row_sum.data();
        args.alpha = tile.alpha.data();
        forward_query_block(args);

        float* lse_data = static_cast<float*>(lse.data);
        for (int64_t r = 0; r < rows; ++r) {
          const float l = tile.row_sum[size_t(r)];
          float* o = tile.acc.data() + r * dv_stride;  // [DV]
          const float inv = l > 0.f ? 1.f / l : 0.f;   // a row that saw no key: O = 0
          for (int64_t c = 0; c < dim_v; ++c) o[c] *= inv;
          store_row(o, out, b, q0 + r, h);
          lse_data[b * lse.stride(0) + h * lse.stride(1) + (q0 + r) * lse.stride(2)] =
              l > 0.f ? float(ln2 * (double(tile.row_max[size_t(r)]) + std::log2(double(l))))
                      : kNegInf;
        }
      }
    }
  }
}

}  // namespace longctx::cpu
