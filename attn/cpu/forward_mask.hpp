// Masking of the score tile of a partial block (block_layout.hpp): the only place where the
// CPU kernels evaluate the mask predicate, for the forward (scores set to −inf) and the
// backward (keep-masks). Full blocks never come here; empty ones are skipped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "longctx/attn/mask.hpp"

namespace longctx::cpu {

// Sets the scores of invisible (query, key) pairs to −inf: s [rows][lds] holds queries
// [q0, q0 + rows) against keys [k0, k0 + keys) of batch `batch`. Keys at consecutive positions
// without document ids take a per-row interval fast path (one window interval, plus the global
// keys when the mask has global tokens); a tile inside one block of a block-sparse grid takes
// the grid's verdict or the inner mask's path; anything else evaluates the predicate pair by
// pair.
void mask_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, float* s, size_t lds);

// The backward's form of the same: keep [rows][ld] gets ~0u for visible pairs and 0 for
// invisible ones and for the padding columns [keys, ld).
void keep_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, uint32_t* keep, size_t ld);

// Columns [begin, end) of a key block that can hold visible pairs.
struct KeySpan {
  int64_t begin = 0, end = 0;
};

// The smallest span of columns holding every visible pair of queries [q0, q0 + rows) against
// keys [k0, k0 + keys), when keys are at consecutive positions without document ids (the
// interval fast path of mask_partial_block); [0, keys) otherwise. Empty (begin == end) when
// no pair is visible. Lets the kernels skip the masked corner of a partial block.
KeySpan visible_key_span(const ResolvedMask& mask, int64_t q0, int64_t rows, int64_t k0,
                         int64_t keys);

// Kernel block sizes for a mask with a block-sparse grid: the largest multiple of 8 that is at
// most `preferred` and divides the grid's block (so that each kernel block lies inside one grid
// block when positions are aligned); `preferred` when there is no grid or no such divisor.
int block_size_for_grid(const ResolvedMask& mask, bool query_axis, int preferred);

}  // namespace longctx::cpu
