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

}  // namespace

void mask_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, float* s, size_t lds) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int32_t* q_docs = mask.q_doc_ids ? mask.q_doc_ids + batch * mask.n : nullptr;
  const int32_t* k_docs = mask.k_doc_ids ? mask.k_doc_ids + batch * mask.m : nullptr;
  if (!q_docs && !mask.k_pos.explicit_positions) {
    // Keys at consecutive positions: each row sees one interval of columns [lo, hi).
    const int64_t first = mask.k_pos.at(k0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t qp = mask.q_pos.at(q0 + r);
      int64_t lo_pos = INT64_MIN, hi_pos = INT64_MAX;  // visible key positions, inclusive
      if (mask.causal) hi_pos = qp;
      if (mask.has_window) {
        lo_pos = saturating_add(qp, -mask.left);
        hi_pos = std::min(hi_pos, saturating_add(qp, mask.right));
      }
      const int64_t lo = lo_pos <= first ? 0 : std::min(saturating_add(lo_pos, -first), keys);
      const int64_t hi =
          hi_pos < first ? 0 : std::min(saturating_add(saturating_add(hi_pos, -first), 1), keys);
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
