// The float64 oracle: brute-force attention for any spec. Slow and obviously correct; every
// backend, sparse mechanism and distributed schedule is tested against it.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/attn/problem.hpp"

namespace longctx::reference {

// Forward in float64.
//   out: [B, N, H, DV] row-major; lse: [B, H, N] (natural log, -inf for rows that see no key).
// When `rows` is non-empty only those query rows (indices into N, all batches and heads) are
// computed; the other entries of out/lse are left as NaN.
struct Forward {
  std::vector<double> out;  // [B, N, H, DV]
  std::vector<double> lse;  // [B, H, N]
};
Forward forward(const ForwardProblem& p, const std::vector<int64_t>& rows = {});

// Backward in float64 using the oracle's own forward (not the caller's O/LSE).
//   dq: [B, N, H, D]; dk: [B, M, G, D]; dv: [B, M, G, DV]  (row-major)
// With `rows` non-empty only dq of those rows is computed (dk, dv left empty): O(rows·M·D).
struct Backward {
  std::vector<double> dq, dk, dv;
};
Backward backward(const BackwardProblem& p, const std::vector<int64_t>& rows = {});

// The query rows an oracle computes: `rows` when non-empty (each checked to lie in [0, n),
// ArgumentError naming "rows" otherwise), else 0..n-1. Shared by the sparse oracles.
std::vector<int64_t> rows_to_compute(const std::vector<int64_t>& rows, int64_t n);

}  // namespace longctx::reference
