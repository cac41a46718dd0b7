// Internal: how a dilated mixture splits into dense problems on compact tensors.
//
// For pattern (w, r), query head h (offset o = h mod r) and a segment of length L starting at
// s0, the dilated rows are s0 + o + c·r for c in [0, ceil((L − o) / r)). A compact problem runs
// the dense attention with batch B × segments over such rows: the full segments form one run,
// the shorter last segment another, so no problem needs padding or a mask beyond causal/full.
//
// How K/V reach a problem (KvMode):
//   shared   — r divides the GQA group size (always when r = 1): the query heads of one offset
//              still map onto KV heads as h / group does, so the problem takes all G KV heads;
//   strided  — no GQA (G = H): KV head h for query head h, i.e. every r-th KV head from o;
//   gathered — otherwise: K/V rows gathered per query head (the problem is MHA).
// In the first two modes every problem has a single offset, and its Q/K/V are strided views of
// the caller's tensors (no copy) whenever the segments of the batch can be expressed by one
// stride; gathered problems group heads of all offsets with the same compact length.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/sparse/dilated.hpp"

namespace longctx::sparse::detail {

enum class KvMode : uint8_t { shared, strided, gathered };

struct CompactGroup {
  int64_t segment = 0, dilation = 1;  // the pattern (w, r)
  int64_t first_segment = 0;          // segments [first_segment, first_segment + segments)
  int64_t segments = 0;
  int64_t len = 0;             // compact rows per segment
  std::vector<int64_t> heads;  // query heads, increasing
  KvMode kv_mode = KvMode::shared;
  int64_t offset = 0;  // the heads' offset (shared and strided modes)

  // Row of the full sequence behind compact row c of segment s (relative) at offset o.
  int64_t row(int64_t s, int64_t c, int64_t o) const {
    return (first_segment + s) * segment + o + c * dilation;
  }
  int64_t offset_of_head(int64_t h) const { return h % dilation; }
  // KV heads of the problem, the full KV head behind compact KV head c, and its offset.
  int64_t kv_heads(int64_t full_kv_heads) const {
    return kv_mode == KvMode::shared ? full_kv_heads : int64_t(heads.size());
  }
  int64_t kv_source(int64_t c, int64_t group) const {
    if (kv_mode == KvMode::shared) return c;
    return kv_mode == KvMode::strided ? heads[size_t(c)] : heads[size_t(c)] / group;
  }
  int64_t kv_offset(int64_t c) const {
    return kv_mode == KvMode::gathered ? offset_of_head(heads[size_t(c)]) : offset;
  }
};

// Every compact problem of the mixture for sequence length n, in pattern order.
std::vector<CompactGroup> compact_groups(const DilatedSpec& spec, int64_t n, int64_t heads,
                                         int64_t kv_heads);

}  // namespace longctx::sparse::detail
