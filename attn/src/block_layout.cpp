// Compiling a resolved mask into a sparse {empty, full, partial} block layout.
//
// Each block is classified from the min/max of its rows' positions (and document ids): this is
// exact for contiguous positions and conservative (partial instead of full/empty) otherwise, so
// arbitrary explicit position arrays stay correct. Global tokens and block-sparse grids keep
// that property (for a grid: when a block lies inside one grid block).
#include "longctx/attn/block_layout.hpp"

#include <algorithm>
#include <limits>

#include "longctx/core/error.hpp"

namespace longctx {
namespace {

struct Range {
  int64_t lo = std::numeric_limits<int64_t>::max();
  int64_t hi = std::numeric_limits<int64_t>::min();
  void add(int64_t x) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
};

// Per-block position and document ranges for rows [0, rows) in blocks of `block`.
struct BlockRanges {
  std::vector<Range> pos, doc;
};

BlockRanges block_ranges(const Positions& positions, const int32_t* docs, int64_t rows, int block) {
  int64_t nb = (rows + block - 1) / block;
  BlockRanges r;
  r.pos.resize(size_t(nb));
  if (docs) r.doc.resize(size_t(nb));
  for (int64_t i = 0; i < rows; ++i) {
    r.pos[size_t(i / block)].add(positions.at(i));
    if (docs) r.doc[size_t(i / block)].add(docs[i]);
  }
  return r;
}

// Positions of `r` inside [lo, hi] (an empty range when none).
Range clip(const Range& r, int64_t lo, int64_t hi) {
  Range c;
  if (r.hi < lo || r.lo > hi) return c;
  c.lo = std::max(r.lo, lo);
  c.hi = std::min(r.hi, hi);
  return c;
}
bool empty(const Range& r) {
  return r.lo > r.hi;
}

// Smallest and largest position of `r` outside the global positions [0, n_global).
Range non_global(const Range& r, int64_t n_global) {
  Range out;
  for (const Range& piece : {clip(r, std::numeric_limits<int64_t>::min(), -1),
                             clip(r, n_global, std::numeric_limits<int64_t>::max())}) {
    if (empty(piece)) continue;
    out.add(piece.lo);
    out.add(piece.hi);
  }
  return out;
}

// The predicate below the block-sparse grid: causal, window relaxed by global tokens, documents.
BlockKind classify_inner(const ResolvedMask& mask, const Range& q, const Range& k, const Range* qd,
                         const Range* kd) {
  bool all_visible = true;
  if (mask.causal) {
    if (k.lo > q.hi) return BlockKind::empty;  // every key after every query
    if (k.hi > q.lo) all_visible = false;
  }
  if (mask.has_window) {
    // visible iff q - left <= k <= q + right, or q or k global (positions [0, n_global)).
    // Causal and window together: some pair is visible iff neither test below fails, since
    // the windows of consecutive query positions slide over consecutive key positions.
    const bool window_empty = k.lo > q.hi + mask.right || k.hi < q.lo - mask.left;
    bool some_global_pair = false;
    if (mask.n_global > 0) {
      const Range qg = clip(q, 0, mask.n_global - 1), kg = clip(k, 0, mask.n_global - 1);
      // A global query sees every key allowed by causality, a global key every such query.
      some_global_pair = (!empty(qg) && (!mask.causal || k.lo <= qg.hi)) ||
                         (!empty(kg) && (!mask.causal || kg.lo <= q.hi));
    }
    if (window_empty && !some_global_pair) return BlockKind::empty;
    // Every pair visible iff the window holds between the non-global rows; only the extremes
    // of those rows matter, so their range is enough even when they form two pieces.
    const Range qn = non_global(q, mask.n_global), kn = non_global(k, mask.n_global);
    if (!empty(qn) && !empty(kn) && (kn.hi > qn.lo + mask.right || kn.lo < qn.hi - mask.left))
      all_visible = false;
  }
  if (qd) {
    if (qd->hi < kd->lo || kd->hi < qd->lo) return BlockKind::empty;
    if (!(qd->lo == qd->hi && kd->lo == kd->hi && qd->lo == kd->lo)) all_visible = false;
  }
  return all_visible ? BlockKind::full : BlockKind::partial;
}

// With a block-sparse grid: the kinds of the grid blocks the rectangle q × k overlaps decide,
// and the inner predicate where they are partial. Exact when the rectangle lies inside one grid
// block (the CPU backend chooses its blocks so that it does, see forward_mask.hpp).
BlockKind classify(const ResolvedMask& mask, const Range& q, const Range& k, const Range* qd,
                   const Range* kd) {
  if (!mask.block_sparse) return classify_inner(mask, q, k, qd, kd);
  const BlockSparseGrid& g = *mask.block_sparse;
  const Range qin = clip(q, 0, g.q_blocks * g.block_q - 1);
  const Range kin = clip(k, 0, g.k_blocks * g.block_k - 1);
  // Positions outside the grid see nothing: they count as empty grid blocks.
  bool any_empty = qin.lo != q.lo || qin.hi != q.hi || kin.lo != k.lo || kin.hi != k.hi;
  bool any_full = false, any_partial = false;
  if (!empty(qin) && !empty(kin)) {
    for (int64_t qb = qin.lo / g.block_q; qb <= qin.hi / g.block_q; ++qb)
      for (int64_t kb = kin.lo / g.block_k; kb <= kin.hi / g.block_k; ++kb) {
        const BlockKind kind = g.at(qb, kb);
        any_empty |= kind == BlockKind::empty;
        any_full |= kind == BlockKind::full;
        any_partial |= kind == BlockKind::partial;
      }
  }
  if (!any_full && !any_partial) return BlockKind::empty;
  if (!any_partial) return any_empty ? BlockKind::partial : BlockKind::full;
  const BlockKind inner = classify_inner(mask, q, k, qd, kd);
  if (!any_full && !any_empty) return inner;  // every pair follows the inner predicate
  if (inner == BlockKind::empty && !any_full) return BlockKind::empty;
  if (inner == BlockKind::full && !any_empty) return BlockKind::full;
  return BlockKind::partial;
}

}  // namespace

BlockLayout BlockLayout::build(const ResolvedMask& mask, int64_t batch, int block_q, int block_k) {
  LONGCTX_CHECK_ARG(block_q >= 1, "block_q", ">= 1", block_q);
  LONGCTX_CHECK_ARG(block_k >= 1, "block_k", ">= 1", block_k);
  BlockLayout L;
  L.block_q_ = block_q;
  L.block_k_ = block_k;
  L.n_ = mask.n;
  L.m_ = mask.m;
  L.num_q_blocks_ = (mask.n + block_q - 1) / block_q;
  L.num_k_blocks_ = (mask.m + block_k - 1) / block_k;
  const int32_t* qdocs = mask.q_doc_ids ? mask.q_doc_ids + batch * mask.n : nullptr;
  const int32_t* kdocs = mask.k_doc_ids ? mask.k_doc_ids + batch * mask.m : nullptr;
  BlockRanges qr = block_ranges(mask.q_pos, qdocs, mask.n, block_q);
  BlockRanges kr = block_ranges(mask.k_pos, kdocs, mask.m, block_k);

  L.q_begin_.assign(size_t(L.num_q_blocks_) + 1, 0);
  std::vector<int64_t> k_count(size_t(L.num_k_blocks_), 0);
  for (int64_t qb = 0; qb < L.num_q_blocks_; ++qb) {
    for (int64_t kb = 0; kb < L.num_k_blocks_; ++kb) {
      BlockKind kind = mask.is_full() ? BlockKind::full
                                      : classify(mask, qr.pos[size_t(qb)], kr.pos[size_t(kb)],
                                                 qdocs ? &qr.doc[size_t(qb)] : nullptr,
                                                 kdocs ? &kr.doc[size_t(kb)] : nullptr);
      if (kind == BlockKind::empty) continue;
      L.by_q_.push_back({int32_t(kb), kind});
      ++k_count[size_t(kb)];
    }
    L.q_begin_[size_t(qb) + 1] = int64_t(L.by_q_.size());
  }
  // Transpose to the by-key CSR.
  L.k_begin_.assign(size_t(L.num_k_blocks_) + 1, 0);
  for (int64_t kb = 0; kb < L.num_k_blocks_; ++kb)
    L.k_begin_[size_t(kb) + 1] = L.k_begin_[size_t(kb)] + k_count[size_t(kb)];
  L.by_k_.resize(L.by_q_.size());
  std::vector<int64_t> fill(L.k_begin_.begin(), L.k_begin_.end() - 1);
  for (int64_t qb = 0; qb < L.num_q_blocks_; ++qb) {
    for (const BlockEntry& e : L.key_blocks(qb))
      L.by_k_[size_t(fill[size_t(e.block)]++)] = {int32_t(qb), e.kind};
  }
  return L;
}

BlockKind BlockLayout::kind(int64_t qb, int64_t kb) const {
  auto row = key_blocks(qb);
  auto it = std::lower_bound(row.begin(), row.end(), kb,
                             [](const BlockEntry& e, int64_t b) { return e.block < b; });
  if (it == row.end() || it->block != kb) return BlockKind::empty;
  return it->kind;
}

int64_t BlockLayout::count(BlockKind k) const {
  if (k == BlockKind::empty) return num_q_blocks_ * num_k_blocks_ - int64_t(by_q_.size());
  return std::count_if(by_q_.begin(), by_q_.end(),
                       [k](const BlockEntry& e) { return e.kind == k; });
}

int64_t BlockLayout::q_end(int64_t qb) const {
  return std::min(n_, (qb + 1) * block_q_);
}
int64_t BlockLayout::k_end(int64_t kb) const {
  return std::min(m_, (kb + 1) * block_k_);
}

int64_t count_visible_pairs(const ResolvedMask& mask, int64_t batch_size) {
  if (mask.is_full()) return batch_size * mask.n * mask.m;
  constexpr int kBlock = 64;
  int64_t total = 0;
  int64_t layouts = mask.has_docs() ? batch_size : 1;
  for (int64_t b = 0; b < layouts; ++b) {
    BlockLayout L = BlockLayout::build(mask, b, kBlock, kBlock);
    int64_t pairs = 0;
    for (int64_t qb = 0; qb < L.num_q_blocks(); ++qb) {
      for (const BlockEntry& e : L.key_blocks(qb)) {
        int64_t qn = L.q_end(qb) - L.q_begin(qb), kn = L.k_end(e.block) - L.k_begin(e.block);
        if (e.kind == BlockKind::full) {
          pairs += qn * kn;
          continue;
        }
        for (int64_t i = L.q_begin(qb); i < L.q_end(qb); ++i)
          for (int64_t j = L.k_begin(e.block); j < L.k_end(e.block); ++j)
            pairs += mask.visible(b, i, j) ? 1 : 0;
      }
    }
    total += pairs;
  }
  return mask.has_docs() ? total : total * batch_size;
}

}  // namespace longctx
