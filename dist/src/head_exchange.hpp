// Internal: the two all-to-alls of Ulysses (SPEC §4) inside a group of U ranks. Each member
// holds its rows of the group's sequence with all heads; after to_heads it holds all the
// group's rows (in member order) for its share of the heads; to_sequence goes back, summing
// the contributions of members that share a replicated KV head (its gradient).
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/dist/communicator.hpp"
#include "longctx/dist/parallel_attention.hpp"
#include "view_memory.hpp"

namespace longctx::dist {

// Heads [begin[u], begin[u] + count[u]) of member u.
struct HeadSplit {
  std::vector<int64_t> begin, count;
};
// Query heads: H / U each (H % U == 0).
HeadSplit split_heads(int64_t heads, int u);
// KV heads for query heads split as split_heads(heads, U): G / U each when G % U == 0; one
// (replicated) head each when U % G == 0.
HeadSplit split_kv_heads(int64_t kv_heads, int u);

// src [B, n_me, heads, W] (any dtype, any strides) → dst [B, n_group, count[me], W] (same
// dtype, any strides), n_group = Σ member_rows, member u's rows at Σ_{v<u} member_rows[v].
// Views and messages live in `memory` (host, or device with a device communicator).
void to_heads(Communicator& inner, const TensorView& src, const HeadSplit& split,
              const std::vector<int64_t>& member_rows, const TensorView& dst, RankStats& stats,
              const ViewMemory& memory = host_view_memory());

// src [B, n_group, count[me], W] float32 → dst [B, n_me, heads, W] float32 (any strides):
// dst = Σ over members of their heads' values (copies when the split has no replication).
void to_sequence(Communicator& inner, const TensorView& src, const HeadSplit& split,
                 const std::vector<int64_t>& member_rows, const TensorView& dst, RankStats& stats,
                 const ViewMemory& memory = host_view_memory());

}  // namespace longctx::dist
