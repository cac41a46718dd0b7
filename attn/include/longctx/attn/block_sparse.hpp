// A block-sparse layout over global positions: for every (query block, key block) of a grid one
// of {empty, full, partial} (SPEC §2). As a mask it is the predicate
//   visible(q, k) = kind(q / block_q, k / block_k) == full
//                   or (kind == partial and the spec's other mask parts hold for (q, k)),
// so partial blocks evaluate any predicate (causal, window, global tokens, documents) and
// positions outside the grid (negative or past its last block) see nothing. The grid is owned
// by the caller; AttentionSpec::block_sparse points at it. Builders (random with a seeded
// density, from a text file) live in sparse/ (longctx/sparse/block_sparse.hpp).
#pragma once

#include <cstdint>
#include <vector>

namespace longctx {

enum class BlockKind : uint8_t { empty = 0, full = 1, partial = 2 };

struct BlockSparseGrid {
  int64_t block_q = 0, block_k = 0;    // positions per query / key block
  int64_t q_blocks = 0, k_blocks = 0;  // grid extent
  std::vector<BlockKind> kinds;        // [q_blocks, k_blocks] row-major

  BlockKind at(int64_t qb, int64_t kb) const { return kinds[size_t(qb * k_blocks + kb)]; }
  // Kind of the block holding positions (qp, kp); empty outside the grid.
  BlockKind kind_of(int64_t qp, int64_t kp) const {
    if (qp < 0 || kp < 0) return BlockKind::empty;
    const int64_t qb = qp / block_q, kb = kp / block_k;
    if (qb >= q_blocks || kb >= k_blocks) return BlockKind::empty;
    return at(qb, kb);
  }
};

}  // namespace longctx
