// Masking of the score tile of a partial block (block_layout.hpp): the only place where the
// CPU kernels evaluate the mask predicate. Full blocks never come here; empty ones are skipped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "longctx/attn/mask.hpp"

namespace longctx::cpu {

// Sets the scores of invisible (query, key) pairs to −inf: s [rows][lds] holds queries
// [q0, q0 + rows) against keys [k0, k0 + keys) of batch `batch`. Keys at consecutive positions
// without document ids take a per-row interval fast path; anything else evaluates the predicate
// pair by pair.
void mask_partial_block(const ResolvedMask& mask, int64_t batch, int64_t q0, int64_t rows,
                        int64_t k0, int64_t keys, float* s, size_t lds);

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

}  // namespace longctx::cpu
