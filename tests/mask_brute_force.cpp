// See mask_brute_force.hpp.
#include "mask_brute_force.hpp"

namespace longctx::test {

BlockKind brute_force_kind(const ResolvedMask& mask, int64_t b, int64_t q0, int64_t q1, int64_t k0,
                           int64_t k1) {
  int64_t visible = 0;
  for (int64_t i = q0; i < q1; ++i)
    for (int64_t j = k0; j < k1; ++j) visible += mask.visible(b, i, j) ? 1 : 0;
  if (visible == 0) return BlockKind::empty;
  return visible == (q1 - q0) * (k1 - k0) ? BlockKind::full : BlockKind::partial;
}

::testing::AssertionResult layout_kind_ok(BlockKind got, BlockKind want, bool exact) {
  // Inexact layouts may only fall back to partial: never skip a visible pair (empty) and never
  // drop the predicate on a masked one (full).
  if (got == want || (!exact && got == BlockKind::partial)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "layout kind " << int(got) << ", brute force "
                                       << int(want) << (exact ? " (exact layout)" : "");
}

}  // namespace longctx::test
