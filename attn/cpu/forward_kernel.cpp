// The per-query-block FlashAttention-2 forward kernel, compiled once per SIMD target by
// Highway's foreach_target and chosen at run time (HWY_DYNAMIC_DISPATCH).
//
// For each non-empty key block of the query block's layout row:
//   S = Q·Kᵀ (Q pre-scaled to log2 units), with per-lane row maxima on the side
//   → mask (partial blocks and padded key columns only)
//   → online-softmax update fused with acc = acc·alpha + P·V.
// Nothing larger than a [block_q, block_k] score tile is ever materialised.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/forward_kernel.cpp"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep (must precede highway.h)
// clang-format on

#include "cpu/forward_kernel.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cpu/forward_mask.hpp"
#include "cpu/pack.hpp"
#include "cpu/simd_tiles-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

static_assert(kRowTile == size_t(kQueryRowTile), "query tiles are padded for this row tile");

void ForwardQueryBlock(const ForwardBlockArgs& a) {
  const hn::ScalableTag<float> d;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const BlockLayout& layout = *a.layout;
  const size_t rows = size_t(a.rows_padded);
  const size_t dim = size_t(a.dim);
  const size_t ldv = size_t(a.dv_stride);
  const size_t lds = size_t(a.score_stride);
  const int64_t q0 = layout.q_begin(a.query_block);
  const int64_t real_rows = layout.q_end(a.query_block) - q0;

  std::fill(a.row_max, a.row_max + rows, kNegInf);
  std::fill(a.row_sum, a.row_sum + rows, 0.f);
  std::fill(a.acc, a.acc + rows * ldv, 0.f);

  for (const BlockEntry& entry : layout.key_blocks(a.query_block)) {
    const int64_t k0 = layout.k_begin(entry.block);
    const int64_t keys = layout.k_end(entry.block) - k0;
    const size_t cols = size_t(round_up(keys, kPanelWidth));
    const float* block = a.key_panels + entry.block * a.key_block_floats;

    // Row maxima come with S unless masking or key padding changes S afterwards.
    const bool partial = entry.kind == BlockKind::partial;
    const bool exact_block = !partial && size_t(keys) == cols;
    // Keys a row tile can see: in a partial block, skip the masked corner (causal diagonal,
    // window edges); padded rows see none.
    const auto span_of = [&](size_t r0) {
      if (!partial) return KeySpan{0, keys};
      const int64_t tile_rows = std::min<int64_t>(int64_t(kRowTile), real_rows - int64_t(r0));
      return tile_rows > 0 ? visible_key_span(*a.mask, q0 + int64_t(r0), tile_rows, k0, keys)
                           : KeySpan{0, 0};
    };
    ScoreTiles(d, a.q, dim, rows, block, cols, dim, a.scores, lds,
               exact_block ? a.lane_max : nullptr, span_of);
    if (partial) mask_partial_block(*a.mask, a.batch, q0, real_rows, k0, keys, a.scores, lds);
    if (size_t(keys) < cols) {  // zero-padded keys of the last block
      for (size_t r = 0; r < rows; ++r)
        std::fill(a.scores + r * lds + size_t(keys), a.scores + r * lds + cols, kNegInf);
    }
    SoftmaxAccumulateTiles(d, a.scores, lds, rows, cols, exact_block ? a.lane_max : nullptr,
                           a.values + k0 * a.dv_stride, ldv, ldv, a.row_max, a.row_sum, a.alpha,
                           a.acc, ldv, span_of);
  }
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::cpu {

HWY_EXPORT(ForwardQueryBlock);

void forward_query_block(const ForwardBlockArgs& args) {
  HWY_DYNAMIC_DISPATCH(ForwardQueryBlock)(args);
}

}  // namespace longctx::cpu
#endif  // HWY_ONCE
