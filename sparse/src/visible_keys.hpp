// Which keys a query row may attend to, for the sparse kernels: a contiguous span when the mask
// is made of positions alone (causal / window with implicit, offset-based positions), else the
// mask's predicate per key. Positions follow the foundation's convention (attn/mask.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "longctx/attn/mask.hpp"

namespace longctx::sparse {

struct KeyRange {
  int64_t begin = 0, end = 0;  // [begin, end)
  int64_t size() const { return end > begin ? end - begin : 0; }
};

// True when every query's visible keys form one span computable from offsets (no documents,
// no explicit position arrays, no global tokens, no block-sparse grid).
inline bool has_key_ranges(const ResolvedMask& m) {
  return !m.has_docs() && m.q_pos.explicit_positions == nullptr &&
         m.k_pos.explicit_positions == nullptr && m.n_global == 0 && m.block_sparse == nullptr;
}

// The span of keys visible to query row i when has_key_ranges(m); otherwise [0, M) (the
// caller then applies m.visible per key).
inline KeyRange visible_key_range(const ResolvedMask& m, int64_t i) {
  if (!has_key_ranges(m)) return {0, m.m};
  const int64_t qp = m.q_pos.at(i), k0 = m.k_pos.offset;  // key j sits at k0 + j
  int64_t lo = 0, hi = m.m;                               // [lo, hi)
  if (m.causal) hi = std::min(hi, qp - k0 + 1);
  if (m.has_window) {
    lo = std::max(lo, qp - m.left - k0);
    hi = std::min(hi, qp + m.right - k0 + 1);
  }
  lo = std::clamp<int64_t>(lo, 0, m.m);
  hi = std::clamp<int64_t>(hi, lo, m.m);
  return {lo, hi};
}

}  // namespace longctx::sparse
