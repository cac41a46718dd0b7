// Resolving an AttentionSpec's mask against concrete sizes.
#include "longctx/attn/mask.hpp"

#include <algorithm>
#include <sstream>
#include <utility>

#include "longctx/core/error.hpp"

namespace longctx {
namespace {

// Smallest and largest of `rows` positions.
std::pair<int64_t, int64_t> position_range(const Positions& p, int64_t rows) {
  if (!p.explicit_positions) return {p.offset, p.offset + rows - 1};
  const auto [lo, hi] = std::minmax_element(p.explicit_positions, p.explicit_positions + rows);
  return {*lo, *hi};
}

// The grid must be well formed and cover every query and key position: a position outside it
// would silently see nothing, which is almost always a layout built for another length.
void check_block_sparse(const BlockSparseGrid& g, const ResolvedMask& r) {
  LONGCTX_CHECK_ARG(g.block_q >= 1 && g.block_k >= 1, "block_sparse", "block sizes >= 1",
                    g.block_q << "x" << g.block_k);
  LONGCTX_CHECK_ARG(g.q_blocks >= 1 && g.k_blocks >= 1, "block_sparse",
                    "a grid of at least 1x1 blocks", g.q_blocks << "x" << g.k_blocks);
  LONGCTX_CHECK_ARG(int64_t(g.kinds.size()) == g.q_blocks * g.k_blocks, "block_sparse",
                    "q_blocks * k_blocks = " << g.q_blocks * g.k_blocks << " kinds",
                    g.kinds.size());
  for (BlockKind k : g.kinds)
    LONGCTX_CHECK_ARG(uint8_t(k) <= uint8_t(BlockKind::partial), "block_sparse",
                      "kinds empty (0), full (1) or partial (2)", int(k));
  const auto [q_lo, q_hi] = position_range(r.q_pos, r.n);
  const auto [k_lo, k_hi] = position_range(r.k_pos, r.m);
  LONGCTX_CHECK_ARG(q_lo >= 0 && q_hi < g.q_blocks * g.block_q, "block_sparse",
                    "a grid covering the query positions [" << q_lo << ", " << q_hi << "]",
                    g.q_blocks << " query blocks of " << g.block_q << " positions");
  LONGCTX_CHECK_ARG(k_lo >= 0 && k_hi < g.k_blocks * g.block_k, "block_sparse",
                    "a grid covering the key positions [" << k_lo << ", " << k_hi << "]",
                    g.k_blocks << " key blocks of " << g.block_k << " positions");
}

}  // namespace

std::string AttentionSpec::describe() const {
  std::ostringstream os;
  os << (mask == MaskKind::causal ? "causal" : "full");
  if (window) os << " window(" << window->left << "," << window->right << ")";
  if (q_doc_ids) os << " docs";
  if (global_tokens > 0) os << " global(" << global_tokens << ")";
  if (block_sparse)
    os << " block-sparse(" << block_sparse->block_q << "x" << block_sparse->block_k << ")";
  if (q_positions || k_positions) os << " positions";
  return os.str();
}

ResolvedMask resolve_mask(const AttentionSpec& spec, int64_t n, int64_t m) {
  LONGCTX_CHECK_ARG(n > 0, "q", "at least one query row (N >= 1)", "N = " << n);
  LONGCTX_CHECK_ARG(m > 0, "k", "at least one key row (M >= 1)", "M = " << m);
  ResolvedMask r;
  r.causal = spec.mask == MaskKind::causal;
  if (spec.window) {
    LONGCTX_CHECK_ARG(spec.window->left >= 0 && spec.window->right >= 0, "window",
                      "non-negative (left, right)",
                      "(" << spec.window->left << ", " << spec.window->right << ")");
    r.has_window = true;
    r.left = spec.window->left;
    r.right = spec.window->right;
  }
  LONGCTX_CHECK_ARG((spec.q_doc_ids == nullptr) == (spec.k_doc_ids == nullptr),
                    spec.q_doc_ids ? "k_doc_ids" : "q_doc_ids",
                    "document ids for both queries and keys (or neither)", "only one of them");
  r.q_doc_ids = spec.q_doc_ids;
  r.k_doc_ids = spec.k_doc_ids;
  r.q_pos = spec.q_positions.value_or(Positions::from_offset(m - n));
  r.k_pos = spec.k_positions.value_or(Positions::from_offset(0));
  r.n = n;
  r.m = m;
  LONGCTX_CHECK_ARG(spec.global_tokens >= 0, "global_tokens", ">= 0", spec.global_tokens);
  if (r.has_window) r.n_global = spec.global_tokens;  // without a window nothing to relax
  if (spec.block_sparse) {
    r.block_sparse = spec.block_sparse;
    check_block_sparse(*spec.block_sparse, r);
  }
  return r;
}

}  // namespace longctx
