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
// (O(block_q·(D + DV + block_k + 16))), never O(N·M).
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "cpu/cpu_attention.hpp"
#include "cpu/forward_kernel.hpp"
#include "cpu/forward_mask.hpp"
#include "cpu/pack.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"

namespace longctx::cpu {
namespace {

// Defaults: a 96-row query tile (16 row tiles of 6, so only the last query block pads rows)
// and 256-key blocks. At D = DV = 128 the f32 query tile, accumulators and the 96×256 score
// tile (48 + 48 + 96 KiB) stay in L2 (1 MiB); one 64-key column tile of K panels (32 KiB)
// stays in L1 (48 KiB) while all row tiles stream it. Measured on Zen 5 (N = 8192, 2 threads):
// block sizes from 48 to 192 × 64 to 256 are all within ±3%; 256 keys was about 1.5% faster
// than 128 at d = 128 (causal and full, half the accumulator rescales and per-block steps),
// since the kernel skips the masked corner of diagonal blocks by row tile and column tile.
constexpr int kDefaultBlockQ = 96;
constexpr int kDefaultBlockK = 256;
// Block sizes under a block-sparse grid: kernel blocks that nest inside grid blocks, so that
// grid-empty blocks are skipped whole and partial ones take the inner mask's fast path.
constexpr int kGridBlockQ = 128;
constexpr int kGridBlockK = 256;
CpuOptions fit_blocks_to_grid(const ResolvedMask& mask, CpuOptions options) {
  if (!mask.block_sparse) return options;
  if (options.block_q == 0) options.block_q = block_size_for_grid(mask, true, kGridBlockQ);
  if (options.block_k == 0) options.block_k = block_size_for_grid(mask, false, kGridBlockK);
  return options;
}
// Packed K/V of several kv heads are kept together up to this size (at least one head).
constexpr int64_t kPackBudgetBytes = int64_t(64) << 20;

// Sizes derived once per call. A "pair" is one (batch, kv head); its packed operands are
// [K panels of every key block][V rows], pair_floats floats.
struct ForwardPlan {
  int block_q = 0, block_k = 0;
  int64_t num_q_blocks = 0, num_k_blocks = 0;
  int64_t key_block_floats = 0;  // packed K of one key block
  int64_t keys_floats = 0;       // packed K of one pair
  int64_t dv_stride = 0;         // packed V row stride
  int64_t pair_floats = 0;       // packed K + V of one pair
  int64_t rows_padded = 0;       // rows of a query tile, a multiple of kQueryRowTile
  int64_t score_stride = 0;      // columns of a score tile
  int64_t chunk = 0;             // pairs packed together
  // Floats of each per-thread tile, in ThreadTiles' member order: q [rows_padded, D],
  // scores [rows_padded, score_stride], acc [rows_padded, dv_stride], row_max, row_sum,
  // alpha [rows_padded], lane_max [rows_padded, kPanelWidth]. The single definition of their
  // sizes (kernel and estimate).
  std::array<int64_t, 7> tile_floats{};

  ForwardPlan(const AttentionShape& s, const CpuOptions& options)
      : block_q(options.block_q > 0 ? options.block_q : kDefaultBlockQ),
        block_k(options.block_k > 0 ? options.block_k : kDefaultBlockK) {
    LONGCTX_CHECK_ARG(options.block_q >= 0, "block_q", ">= 0 (0 = automatic)", options.block_q);
    LONGCTX_CHECK_ARG(options.block_k >= 0, "block_k", ">= 0 (0 = automatic)", options.block_k);
    num_q_blocks = (s.n + block_q - 1) / block_q;
    num_k_blocks = (s.m + block_k - 1) / block_k;
    // Blocks never hold more rows than the sequences have: size buffers by the real extents.
    const int64_t max_q_rows = std::min<int64_t>(block_q, s.n);
    const int64_t max_k_rows = std::min<int64_t>(block_k, s.m);
    key_block_floats = packed_key_block_floats(max_k_rows, s.dim);
    keys_floats = num_k_blocks * key_block_floats;
    dv_stride = packed_value_stride(s.dim_v);
    pair_floats = keys_floats + s.m * dv_stride;
    rows_padded = round_up(max_q_rows, kQueryRowTile);
    score_stride = round_up(max_k_rows, kPanelWidth);
    chunk = std::clamp<int64_t>(kPackBudgetBytes / (pair_floats * int64_t(sizeof(float))), 1,
                                s.batch * s.kv_heads);
    tile_floats = {rows_padded * s.dim,
                   rows_padded * score_stride,
                   rows_padded * dv_stride,
                   rows_padded,
                   rows_padded,
                   rows_padded,
                   rows_padded * kPanelWidth};
  }

  // Floats of the packed chunk: [chunk][pair_floats].
  int64_t packed_floats() const { return chunk * pair_floats; }
  // Workspace of the whole call: the packed chunk plus every thread's tiles, all alive at once.
  int64_t workspace_bytes(int threads) const {
    int64_t floats = packed_floats();
    for (int64_t f : tile_floats) floats += threads * f;
    return floats * int64_t(sizeof(float));
  }
};

struct WorkItem {
  int64_t pair;         // index of (batch, kv head) within the chunk
  int64_t head_in_grp;  // query head within the kv head's group
  int64_t query_block;
  int64_t cost;  // non-empty key blocks
};

// Per-thread tiles of the kernel.
struct ThreadTiles {
  WorkspaceBuffer<float> q, scores, acc, row_max, row_sum, alpha, lane_max;
  explicit ThreadTiles(const ForwardPlan& plan)
      : q(size_t(plan.tile_floats[0])),
        scores(size_t(plan.tile_floats[1])),
        acc(size_t(plan.tile_floats[2])),
        row_max(size_t(plan.tile_floats[3])),
        row_sum(size_t(plan.tile_floats[4])),
        alpha(size_t(plan.tile_floats[5])),
        lane_max(size_t(plan.tile_floats[6])) {}
};

// Work items of the pairs [first, first + count): one kv head after the other, and within a
// pair the longest layout rows first (causal work is unbalanced; dynamic scheduling then
// fills the end with short items). Interleaving heads by cost instead made the threads stream
// every head's packed K/V at once, which missed in L3 (measured: causal 179 → 201 GFLOP/s on
// one thread at N = 8192, H = 4).
std::vector<WorkItem> work_items(const ForwardProblem& p, const std::vector<BlockLayout>& layouts,
                                 const ForwardPlan& plan, int64_t first, int64_t count) {
  std::vector<WorkItem> items;
  items.reserve(size_t(count * p.shape.group() * plan.num_q_blocks));
  for (int64_t pair = 0; pair < count; ++pair) {
    const BlockLayout& L = layouts[p.mask.has_docs() ? (first + pair) / p.shape.kv_heads : 0];
    for (int64_t hg = 0; hg < p.shape.group(); ++hg)
      for (int64_t qb = 0; qb < plan.num_q_blocks; ++qb)
        items.push_back({pair, hg, qb, int64_t(L.key_blocks(qb).size())});
  }
  std::stable_sort(items.begin(), items.end(), [](const WorkItem& x, const WorkItem& y) {
    return x.pair != y.pair ? x.pair < y.pair : x.cost > y.cost;
  });
  return items;
}

// Packs key block kb of pair `pair` (absolute index batch · G + kv head) into `base`.
void pack_key_block(const ForwardProblem& p, const ForwardPlan& plan, int64_t pair, int64_t kb,
                    float* base) {
  const int64_t b = pair / p.shape.kv_heads, g = pair % p.shape.kv_heads;
  const int64_t k0 = kb * plan.block_k, k1 = std::min(p.shape.m, k0 + plan.block_k);
  pack_key_panels(p.k, b, g, k0, k1, base + kb * plan.key_block_floats);
  pack_value_rows(p.v, b, g, k0, k1, plan.dv_stride, base + plan.keys_floats + k0 * plan.dv_stride);
}

// Asks for transparent huge pages behind [p, p + bytes) where the OS offers them (Linux with
// THP in "madvise" mode). The packed chunk is tens of MiB written once per call into fresh
// pages; with 4 KiB pages their faults cost about 3% of a causal forward at N = 8192 (perf).
// Only whole 2 MiB pages inside the buffer are advised; a refusal is harmless.
void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// Writes O = acc / l and LSE = ln 2 · (m + log2 l) of query rows [q0, q0 + rows) of (b, h);
// a row that saw no key gets O = 0 and LSE = −inf. Scales acc in place.
void write_rows(ThreadTiles& tile, const ForwardPlan& plan, int64_t dim_v, int64_t b, int64_t h,
                int64_t q0, int64_t rows, const TensorView& out, const TensorView& lse) {
  float* lse_data = static_cast<float*>(lse.data);
  for (int64_t r = 0; r < rows; ++r) {
    const float l = tile.row_sum[size_t(r)];
    float* o = tile.acc.data() + r * plan.dv_stride;  // [DV]
    const float inv = l > 0.f ? 1.f / l : 0.f;
    for (int64_t c = 0; c < dim_v; ++c) o[c] *= inv;
    store_row(o, out, b, q0 + r, h);
    const double m = tile.row_max[size_t(r)];
    lse_data[b * lse.stride(0) + h * lse.stride(1) + (q0 + r) * lse.stride(2)] =
        l > 0.f ? float(std::numbers::ln2 * (m + std::log2(double(l))))
                : -std::numeric_limits<float>::infinity();
  }
}

}  // namespace

void forward(const ForwardProblem& p, const TensorView& out, const TensorView& lse,
             const CpuOptions& options) {
  check_forward_outputs(p, out, lse);
  const AttentionShape& s = p.shape;
  const int threads = resolve_threads(options.threads);
  const ForwardPlan plan(s, fit_blocks_to_grid(p.mask, options));

  std::vector<BlockLayout> layouts;  // [1], or [B] when document ids make them differ
  const int64_t num_layouts = p.mask.has_docs() ? s.batch : 1;
  for (int64_t b = 0; b < num_layouts; ++b)
    layouts.push_back(BlockLayout::build(p.mask, b, plan.block_q, plan.block_k));

  // Allocated before the parallel regions so that no allocation can throw inside OpenMP.
  WorkspaceBuffer<float> packed(size_t(plan.packed_floats()));  // [chunk][pair]
  advise_huge_pages(packed.data(), size_t(plan.packed_floats()) * sizeof(float));
  std::vector<ThreadTiles> tiles;
  tiles.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t) tiles.emplace_back(plan);
  const float q_scale = p.scale * std::numbers::log2e_v<float>;

  const int64_t num_pairs = s.batch * s.kv_heads;
  for (int64_t first = 0; first < num_pairs; first += plan.chunk) {
    const int64_t count = std::min(plan.chunk, num_pairs - first);
    const std::vector<WorkItem> items = work_items(p, layouts, plan, first, count);

#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < count * plan.num_k_blocks; ++t) {
        const int64_t pair = t / plan.num_k_blocks;
        pack_key_block(p, plan, first + pair, t % plan.num_k_blocks,
                       packed.data() + pair * plan.pair_floats);
      }  // implicit barrier: every thread sees the whole chunk packed

      ThreadTiles& tile = tiles[size_t(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
      for (size_t t = 0; t < items.size(); ++t) {
        const WorkItem& item = items[t];
        const int64_t b = (first + item.pair) / s.kv_heads, g = (first + item.pair) % s.kv_heads;
        const int64_t h = g * s.group() + item.head_in_grp;
        const BlockLayout& L = layouts[p.mask.has_docs() ? b : 0];
        const int64_t q0 = L.q_begin(item.query_block), q1 = L.q_end(item.query_block);
        const int64_t tile_rows = round_up(q1 - q0, kQueryRowTile);

        load_scaled_rows(p.q, b, h, q0, q1, q_scale, s.dim, tile.q.data());  // [rows][D]
        std::fill(tile.q.data() + (q1 - q0) * s.dim, tile.q.data() + tile_rows * s.dim, 0.f);

        const float* base = packed.data() + item.pair * plan.pair_floats;
        ForwardBlockArgs args;
        args.key_panels = base;
        args.key_block_floats = plan.key_block_floats;
        args.values = base + plan.keys_floats;
        args.dv_stride = plan.dv_stride;
        args.dim = s.dim;
        args.layout = &L;
        args.mask = &p.mask;
        args.batch = b;
        args.query_block = item.query_block;
        args.q = tile.q.data();
        args.rows_padded = tile_rows;
        args.scores = tile.scores.data();
        args.score_stride = plan.score_stride;
        args.acc = tile.acc.data();
        args.row_max = tile.row_max.data();
        args.row_sum = tile.row_sum.data();
        args.alpha = tile.alpha.data();
        args.lane_max = tile.lane_max.data();
        forward_query_block(args);

        write_rows(tile, plan, s.dim_v, b, h, q0, q1 - q0, out, lse);
      }
    }
  }
}

int64_t forward_workspace_bytes(const AttentionShape& shape, const CpuOptions& options) {
  return ForwardPlan(shape, options).workspace_bytes(resolve_threads(options.threads));
}

}  // namespace longctx::cpu
