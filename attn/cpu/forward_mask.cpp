// Masking of partial score blocks (see forward_mask.hpp).
#include "cpu/forward_mask.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace longctx::cpu {
namespace {

// Saturating int64 arithmetic for window bounds (a window may be wider than any sequence).
int64_t saturating_add(int64_t x, int64_t y) {
  int64_t r;
  if (__builtin_add_overflow(x, y, &r)) return y > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// Column interval [lo, hi) of a row; empty when hi <= lo.
struct Interval {
  int64_t lo = 0, hi = 0;
};

// Columns [lo, hi) of keys at consecutive positions from `first` (keys of them) whose
// positions lie in [lo_pos, hi_pos] (inclusive).
Interval columns_of(int64_t lo_pos, int64_t hi_pos, int64_t first, int64_t keys) {
  Interval c;
  c.lo = lo_pos <= first ? 0 : std::min(saturating_add(lo_pos, -first), keys);
  c.hi = hi_pos < first ? 0 : std::min(saturating_add(saturating_add(hi_pos, -first), 1), keys);
  return c;
}

// Visible columns of query position qp against keys at consecutive positions from `first`: the
// causal/window interval, and with global tokens a second one, the global keys [0, n_global)
// (still causal). A global query sees every causally allowed key.
struct RowColumns {
  Interval main, global;
};
RowColumns visible_columns(const ResolvedMask& mask, int64_t qp, int64_t first, int64_t keys) {
  const int64_t causal_hi = mask.causal ? qp : INT64_MAX;
  RowColumns c;
  if (!mask.has_window || mask.is_global(qp)) {
    c.main = columns_of(INT64_MIN, causal_hi, first, keys);
    return c;
  }
  c.main = columns_of(saturating_add(qp, -mask.left),
                      std::min(causal_hi, saturating_add(qp, mask.right)), first, keys);
  if (mask.n_global > 0)
    c.global = columns_of(0, std::min(causal_hi, mask.n_global - 1), first, keys);
  return c;
}

// Whether rows of this mask see at most two intervals of consecutive key columns each.
bool has_row_intervals(const ResolvedMask& mask) {
  return !mask.q_doc_ids && !mask.k_pos.explicit_positions && !mask.block_sparse;
}

// Calls hide(r, c0, c1) for every run [c0, c1) of invisible columns of every row r.
template <class Hide>
void hide_invisible(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows, int64_t k0,
                    int64_t keys, const Hide& hide);

// What a block-sparse grid says about a tile: the tile lies inside one grid block whose kind
// decides (all / none visible) or defers to the inner mask; or it straddles grid blocks.
enum class GridVerdict : uint8_t { all, none, inner, mixed };
GridVerdict grid_verdict(const ResolvedMask& mask, int64_t q0, int64_t rows, int64_t k0,
                         int64_t keys) {
  if (mask.q_pos.explicit_positions || mask.k_pos.explicit_positions) return GridVerdict::mixed;
  const BlockSparseGrid& g = *mask.block_sparse;
  const int64_t q_lo = mask.q_pos.at(q0), q_hi = mask.q_pos.at(q0 + rows - 1);
  const int64_t k_lo = mask.k_pos.at(k0), k_hi = mask.k_pos.at(k0 + keys - 1);
  if (q_lo < 0 || k_lo < 0 || q_lo / g.block_q != q_hi / g.block_q ||
      k_lo / g.block_k != k_hi / g.block_k)
    return GridVerdict::mixed;
  switch (g.kind_of(q_lo, k_lo)) {
    case BlockKind::empty:
      return GridVerdict::none;
    case BlockKind::full:
      return GridVerdict::all;
    default:
      return GridVerdict::inner;
  }
}

template <class Hide>
void hide_invisible(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows, int64_t k0,
                    int64_t keys, const Hide& hide) {
  if (mask.block_sparse) {
    switch (grid_verdict(mask, q0, rows, k0, keys)) {
      case GridVerdict::all:
        return;
      case GridVerdict::none:
        for (int64_t r = 0; r < rows; ++r) hide(r, int64_t(0), keys);
        return;
      case GridVerdict::inner:
        hide_invisible(mask.inner(), batch, q0, rows, k0, keys, hide);
        return;
      case GridVerdict::mixed:
        break;
    }
  } else if (has_row_intervals(mask)) {
    // Keys at consecutive positions: each row sees one or two intervals of columns.
    const int64_t first = mask.k_pos.at(k0);
    for (int64_t r = 0; r < rows; ++r) {
      RowColumns c = visible_columns(mask, mask.q_pos.at(q0 + r), first, keys);
      Interval a = c.main, b = c.global;
      if (a.hi <= a.lo) std::swap(a, b);  // a: a non-empty interval if any
      if (a.hi <= a.lo) {
        hide(r, int64_t(0), keys);
        continue;
      }
      if (b.hi > b.lo) {  // two intervals: merge, or hide the gap between them
        if (b.lo < a.lo) std::swap(a, b);
        if (b.lo > a.hi) hide(r, a.hi, b.lo);
        a.hi = std::max(a.hi, b.hi);
      }
      if (a.lo > 0) hide(r, int64_t(0), a.lo);
      if (a.hi < keys) hide(r, a.hi, keys);
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < keys; ++c)
      if (!mask.visible(batch, q0 + r, k0 + c)) hide(r, c, c + 1);
  }
}

}  // namespace

KeySpan visible_key_span(const ResolvedMask& mask, int64_t q0, int64_t rows, int64_t k0,
                         int64_t keys) {
  if (mask.block_sparse) {
    switch (grid_verdict(mask, q0, rows, k0, keys)) {
      case GridVerdict::none:
        return KeySpan{0, 0};
      case GridVerdict::inner:
        return visible_key_span(mask.inner(), q0, rows, k0, keys);
      default:
        return KeySpan{0, keys};
    }
  }
  if (!has_row_intervals(mask)) return {0, keys};
  const int64_t first = mask.k_pos.at(k0);
  KeySpan span{keys, 0};
  for (int64_t r = 0; r < rows; ++r) {
    const RowColumns c = visible_columns(mask, mask.q_pos.at(q0 + r), first, keys);
    for (const Interval& i : {c.main, c.global}) {
      if (i.hi <= i.lo) continue;
      span.begin = std::min(span.begin, i.lo);
      span.end = std::max(span.end, i.hi);
    }
  }
  return span.begin < span.end ? span : KeySpan{0, 0};
}

void mask_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, float* s, size_t lds) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  hide_invisible(mask, batch, q0, rows, k0, keys, [&](int64_t r, int64_t c0, int64_t c1) {
    float* row = s + size_t(r) * lds;
    std::fill(row + c0, row + c1, kNegInf);
  });
}

void keep_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, uint32_t* keep, size_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* row = keep + size_t(r) * ld;
    std::fill(row, row + keys, ~0u);
    std::fill(row + keys, row + ld, 0u);
  }
  hide_invisible(mask, batch, q0, rows, k0, keys, [&](int64_t r, int64_t c0, int64_t c1) {
    uint32_t* row = keep + size_t(r) * ld;
    std::fill(row + c0, row + c1, 0u);
  });
}

int block_size_for_grid(const ResolvedMask& mask, bool query_axis, int preferred) {
  if (!mask.block_sparse) return preferred;
  const int64_t grid = query_axis ? mask.block_sparse->block_q : mask.block_sparse->block_k;
  for (int b = preferred / 8 * 8; b >= 8; b -= 8)
    if (grid % b == 0) return b;
  return preferred;
}

}  // namespace longctx::cpu
