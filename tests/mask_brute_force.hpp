// Brute-force references for block layouts: a block's kind from evaluating the mask predicate on
// every pair, and the layout contract every test checks (exact where the layout promises it,
// otherwise sound: an empty block has no visible pair, a full block no masked one).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "longctx/attn/block_layout.hpp"

namespace longctx::test {

// Kind of query rows [q0, q1) × key rows [k0, k1) of batch b by ResolvedMask::visible.
BlockKind brute_force_kind(const ResolvedMask& mask, int64_t b, int64_t q0, int64_t q1, int64_t k0,
                           int64_t k1);

// `got` equals `want` when `exact`; else `got` is `want` or the conservative `partial`.
::testing::AssertionResult layout_kind_ok(BlockKind got, BlockKind want, bool exact);

}  // namespace longctx::test
