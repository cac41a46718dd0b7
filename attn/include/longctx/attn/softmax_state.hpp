// Partial attention results and their merge (SPEC §1).
//
// A partial result for a set of rows is (O, LSE): O normalised over the keys it has seen and
// LSE = log Σ exp(s). Two partials over disjoint key sets of the same rows merge exactly:
//   lse = max + log1p(exp(min - max)),  O = O_a·exp(lse_a - lse) + O_b·exp(lse_b - lse).
// An empty partial has LSE = -inf and O = 0; empty + empty stays empty (no NaN), because the
// -inf/-inf case is handled before any subtraction.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "longctx/core/tensor.hpp"

namespace longctx {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Combined log-sum-exp of two partials; -inf when both are empty.
inline float merge_lse(float lse_a, float lse_b) {
  float hi = lse_a > lse_b ? lse_a : lse_b;
  float lo = lse_a > lse_b ? lse_b : lse_a;
  if (hi == kNegInf) return kNegInf;
  return hi + std::log1p(std::exp(lo - hi));
}

// Weights of a and b in the merged O: w_a = exp(lse_a - lse), w_b = exp(lse_b - lse).
struct MergeWeights {
  float lse, w_a, w_b;
};
inline MergeWeights merge_weights(float lse_a, float lse_b) {
  float lse = merge_lse(lse_a, lse_b);
  if (lse == kNegInf) return {kNegInf, 0.f, 0.f};
  return {lse, lse_a == kNegInf ? 0.f : std::exp(lse_a - lse),
          lse_b == kNegInf ? 0.f : std::exp(lse_b - lse)};
}

// Merges one row in place: o_a[dv] and *lse_a absorb (o_b, lse_b).
inline void merge_row(float* o_a, float* lse_a, const float* o_b, float lse_b, int64_t dv) {
  MergeWeights w = merge_weights(*lse_a, lse_b);
  for (int64_t c = 0; c < dv; ++c) o_a[c] = o_a[c] * w.w_a + o_b[c] * w.w_b;
  *lse_a = w.lse;
}

// Merges partial b into partial a for whole tensors:
//   out_a, out_b [B, N, H, DV] (any dtype; computed in f32), lse_a, lse_b [B, H, N] float32.
void merge_partials(const TensorView& out_a, const TensorView& lse_a, const TensorView& out_b,
                    const TensorView& lse_b);

}  // namespace longctx
