// A mask compiled to blocks: for each (query block, key block) one of {empty, full, partial}.
// Kernels skip empty blocks, drop the predicate on full blocks and evaluate it only on partial
// ones (FlexAttention's BlockMask idea). Stored sparsely (CSR both ways) so that causal or
// windowed layouts at long lengths cost memory proportional to the visible blocks only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "longctx/attn/mask.hpp"

namespace longctx {

// BlockKind {empty, full, partial} comes from block_sparse.hpp (through mask.hpp).

struct BlockEntry {
  int32_t block;   // the other axis' block index
  BlockKind kind;  // full or partial (empty blocks are not stored)
};

class BlockLayout {
 public:
  // Layout of batch `batch` (only document ids depend on the batch). block_q, block_k >= 1.
  static BlockLayout build(const ResolvedMask& mask, int64_t batch, int block_q, int block_k);

  int block_q() const { return block_q_; }
  int block_k() const { return block_k_; }
  int64_t num_q_blocks() const { return num_q_blocks_; }
  int64_t num_k_blocks() const { return num_k_blocks_; }

  // Non-empty key blocks of query block qb, in increasing key-block order.
  std::span<const BlockEntry> key_blocks(int64_t qb) const {
    return {by_q_.data() + q_begin_[size_t(qb)],
            size_t(q_begin_[size_t(qb) + 1] - q_begin_[size_t(qb)])};
  }
  // Non-empty query blocks of key block kb, in increasing query-block order (for the backward).
  std::span<const BlockEntry> query_blocks(int64_t kb) const {
    return {by_k_.data() + k_begin_[size_t(kb)],
            size_t(k_begin_[size_t(kb) + 1] - k_begin_[size_t(kb)])};
  }
  BlockKind kind(int64_t qb, int64_t kb) const;  // O(log) lookup
  int64_t count(BlockKind kind) const;           // number of blocks of that kind

  // Rows [begin, end) covered by a block.
  int64_t q_begin(int64_t qb) const { return qb * block_q_; }
  int64_t q_end(int64_t qb) const;
  int64_t k_begin(int64_t kb) const { return kb * block_k_; }
  int64_t k_end(int64_t kb) const;

 private:
  int block_q_ = 1, block_k_ = 1;
  int64_t n_ = 0, m_ = 0;
  int64_t num_q_blocks_ = 0, num_k_blocks_ = 0;
  std::vector<int64_t> q_begin_, k_begin_;  // CSR offsets
  std::vector<BlockEntry> by_q_, by_k_;
};

// Number of visible (query, key) pairs summed over the batch: the FLOP convention of SPEC §1
// counts only these (causal ≈ half of N·M).
int64_t count_visible_pairs(const ResolvedMask& mask, int64_t batch_size);

}  // namespace longctx
