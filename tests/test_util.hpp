// Shared helpers for the test suite: seeded random tensors in either memory layout, the
// float64 oracle's view of a tensor, and the one tolerance comparison every test uses.
//
// Tolerances follow the precision noise floor (STYLE §2): an element's error is measured
// relative to the magnitude of its row (a row of O, dQ, dK or dV), with a floor at a tenth
// of the tensor's RMS so that rows whose exact value is ~0 (e.g. dQ of a query that sees
// one key) are judged against the noise of their neighbours rather than against zero.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "longctx/core/rng.hpp"
#include "longctx/core/tensor.hpp"

namespace longctx::test {

// True in sanitizer and Debug builds (LONGCTX_TEST_SMALL defined by tests/CMakeLists.txt) or
// when the environment sets LONGCTX_TEST_SMALL=1: tests then shrink their sizes.
bool small_sizes();
// `n` in normal builds; in small builds capped at an odd, non-block-multiple size.
int64_t sized(int64_t n);

// Relative tolerance of results stored in `t` against the float64 oracle.
double tolerance(DType t);

// A tensor with logical shape [d0, d1, d2, d3] stored either row-major or with dims 1 and 2
// swapped in memory (logical [B, N, H, D] stored as [B, H, N, D]).
struct Operand {
  Tensor storage;
  TensorView view;  // logical shape
};
Operand make_operand(DType dtype, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     bool heads_major = false);
Operand random_operand(DType dtype, int64_t d0, int64_t d1, int64_t d2, int64_t d3, Rng& rng,
                       float stddev = 1.f, bool heads_major = false);

// Logical contents of a rank-3/4 view as float64, row-major in logical order.
std::vector<double> to_f64(const TensorView& t);

// Result of comparing a tensor against the oracle, row by row.
struct Comparison {
  double max_rel_error = 0.0;  // max |got - ref| / row scale
  int64_t worst_index = -1;    // flat index into the row-major logical order
  double worst_got = 0.0, worst_ref = 0.0;
  int64_t non_finite = 0;  // elements of `got` that are NaN/inf where ref is finite
  std::string summary(const std::string& what) const;
};
// `row_len`: elements per row (the last dim). Both arrays in the same row-major order.
// A row's scale is max(its max |ref|, 0.1 * RMS(ref), `unit_floor`): `unit_floor` is the
// natural magnitude of the quantity (e.g. scale·|dO|·|V|·|K| for dQ) times 0.1, so that rows
// whose exact value cancels to ~0 (dQ of a query that sees one key is exactly 0) are judged by
// the rounding noise of the terms that cancelled, not against zero.
Comparison compare_rows(const std::vector<double>& got, const std::vector<double>& ref,
                        int64_t row_len, double unit_floor = 0.0);
// The assertion every kernel test uses: no non-finite values and max_rel_error <= tol.
::testing::AssertionResult rows_close(const std::vector<double>& got,
                                      const std::vector<double>& ref, int64_t row_len, double tol,
                                      const std::string& what, double unit_floor = 0.0);

// Root mean square of all elements of a view.
double rms(const TensorView& t);
// LSE: -inf must match exactly; otherwise |got - ref| <= tol * max(1, |ref|).
::testing::AssertionResult lse_close(const std::vector<double>& got, const std::vector<double>& ref,
                                     double tol);

// Bitwise equality of two tensors' storage (for determinism tests).
bool bitwise_equal(const Tensor& a, const Tensor& b);

// "seed=123 (replay with LONGCTX_SEED=123)" for SCOPED_TRACE.
std::string seed_note(uint64_t seed);

// A fresh directory under the system temp dir (`prefix`, the process id and a counter in its
// name), removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "longctx_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace longctx::test
