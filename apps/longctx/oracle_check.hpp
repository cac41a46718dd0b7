// Compares an AttnCase's results with the float64 oracle (attn/reference).
//
// Error measure. O, dQ, dK, dV: max |x − ref| / max(max |ref|, floor) over the compared entries
// of the tensor, i.e. the worst deviation relative to the tensor's scale; floor = 1e-3 for O and
// 1 for dQ, dK, dV (the inputs are N(0, 1); the floor matters for tensors that are exactly zero,
// e.g. dQ when every query sees one key: see oracle_check.cpp).
// LSE: max |x − ref| / max(1, |ref|) per entry (as tests/test_util.cpp's lse_close). A NaN or inf,
// or an LSE that is finite where the oracle has −inf (a row that sees no key) or the other way
// round, counts as ∞. Why per tensor and not per row (tests/test_util.cpp normalises per row,
// floored at 0.1·RMS): a causal query row that sees one key has dQ = 0 exactly, and float32 leaves
// ~1e-6·|dQ| of rounding there (dP − D cancels); per row that reads as 5e-5 and fails the 1e-5 fp32
// tolerance although the kernel is right. The test suite widens its tolerance per case; the
// CLI uses dtype_tolerance as it is, so it measures against the tensor's scale.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "attn_case.hpp"

namespace longctx::app {

struct CheckOptions {
  int64_t sample_rows = 64;                 // query rows compared (all when N is smaller)
  bool gradients = true;                    // also run and compare the backward
  int64_t full_gradient_limit = 1LL << 26;  // dK, dV (and dQ on all rows) when N·M ≤ this
  uint64_t seed = 1;                        // picks the sampled rows
};

struct CheckResult {
  int64_t rows_checked = 0;     // query rows compared, each over all batches and heads
  bool full_gradients = false;  // dK and dV were compared (in full)
  double tolerance = 0.0;       // dtype_tolerance of the storage dtype
  double err_out = 0.0, err_lse = 0.0;
  std::optional<double> err_dq, err_dk, err_dv;

  bool passed() const;
};

// Query rows spread over [0, n): one random row in each of `count` equal strata, plus the first
// and the last row (where masks and alignment have their edge cases). All rows when n <= count.
std::vector<int64_t> sample_query_rows(int64_t n, int64_t count, uint64_t seed);

// Runs the forward (and, with options.gradients, the backward) of `c` once if it has not run,
// computes the oracle on the sampled rows and compares.
CheckResult check_against_oracle(AttnCase& c, const CheckOptions& options);

}  // namespace longctx::app
