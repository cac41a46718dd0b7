// The GEMM yardstick: single-precision matrix multiply (OpenBLAS cblas_sgemm) measured in the
// same process and with the same thread count as the attention it is compared with.
#pragma once

#include <cstdint>
#include <string>

namespace longctx::app {

struct GemmResult {
  int64_t size = 0;  // n of the n×n×n problem
  int threads = 0;
  double ms = 0.0;  // median over the repeats
  double gflops = 0.0;
  double best_ms = 0.0;  // fastest repeat: the undisturbed rate on a shared machine
  double best_gflops = 0.0;
  std::string blas;  // e.g. "OpenBLAS 0.3.21 ... (core Haswell)"
};

// Median time of C = A·Bᵀ on n×n float32 matrices with `threads` BLAS threads, after one
// warm-up call. Leaves the BLAS at one thread afterwards so its pool does not compete with
// OpenMP while attention runs.
GemmResult measure_sgemm(int64_t n, int threads, int repeats);

}  // namespace longctx::app
