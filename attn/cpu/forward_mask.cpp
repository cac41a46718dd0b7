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

// Visible columns [lo, hi) of query position qp against keys at consecutive positions from
// `first` (keys of them); hi <= lo when none.
void visible_interval(const ResolvedMask& mask, int64_t qp, int64_t first, int64_t keys,
                      int64_t& lo, int64_t& hi) {
  int64_t lo_pos = INT64_MIN, hi_pos = INT64_MAX;  // visible key positions, inclusive
  if (mask.causal) hi_pos = qp;
  if (mask.has_window) {
    lo_pos = saturating_add(qp, -mask.left);
    hi_pos = std::min(hi_pos, saturating_add(qp, mask.right));
  }
  lo = lo_pos <= first ? 0 : std::min(saturating_add(lo_pos, -first), keys);
  hi = hi_pos < first ? 0 : std::min(saturating_add(saturating_add(hi_pos, -first), 1), keys);
}

// Whether rows of this mask see one interval of consecutive key columns each.
bool has_row_intervals(const ResolvedMask& mask) {
  return !mask.q_doc_ids && !mask.k_pos.explicit_positions;
}

}  // namespace

KeySpan visible_key_span(const ResolvedMask& mask, int64_t q0, int64_t rows, int64_t k0,
                         int64_t keys) {
  if (!has_row_intervals(mask)) return {0, keys};
  const int64_t first = mask.k_pos.at(k0);
  KeySpan span{keys, 0};
  for (int64_t r = 0; r < rows; ++r) {
    int64_t lo, hi;
    visible_interval(mask, mask.q_pos.at(q0 + r), first, keys, lo, hi);
    if (hi <= lo) continue;
    span.begin = std::min(span.begin, lo);
    span.end = std::max(span.end, hi);
  }
  return span.begin < span.end ? span : KeySpan{0, 0};
}

void mask_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, float* s, size_t lds) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int32_t* q_docs = mask.q_doc_ids ? mask.q_doc_ids + batch * mask.n : nullptr;
  const int32_t* k_docs = mask.k_doc_ids ? mask.k_doc_ids + batch * mask.m : nullptr;
  if (has_row_intervals(mask)) {
    // Keys at consecutive positions: each row sees one interval of columns [lo, hi).
    const int64_t first = mask.k_pos.at(k0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t lo, hi;
      visible_interval(mask, mask.q_pos.at(q0 + r), first, keys, lo, hi);
      float* row = s + size_t(r) * lds;
      if (hi <= lo) {
        std::fill(row, row + keys, kNegInf);
        continue;
      }
      std::fill(row, row + lo, kNegInf);
      std::fill(row + hi, row + keys, kNegInf);
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = q0 + r;
    const int64_t qp = mask.q_pos.at(i);
    float* row = s + size_t(r) * lds;
    for (int64_t c = 0; c < keys; ++c) {
      const int64_t j = k0 + c;
      bool visible = mask.visible_positions(qp, mask.k_pos.at(j));
      if (q_docs && q_docs[i] != k_docs[j]) visible = false;
      if (!visible) row[c] = kNegInf;
    }
  }
}

}  // namespace longctx::cpu
