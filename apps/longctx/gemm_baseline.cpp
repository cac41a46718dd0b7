// OpenBLAS sgemm timing. Debian's libopenblas is the pthread build: it keeps its own thread pool
// beside OpenMP's, so the thread count is set for the measurement and reset to 1 after it, and
// the caller should not run attention while the GEMM runs.
#include "gemm_baseline.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/timer.hpp"

namespace longctx::app {

GemmResult measure_sgemm(int64_t n, int threads, int repeats) {
  LONGCTX_CHECK_ARG(n >= 1, "gemm size", ">= 1", n);
  LONGCTX_CHECK_ARG(threads >= 1, "gemm threads", ">= 1", threads);
  LONGCTX_CHECK_ARG(repeats >= 1, "gemm repeats", ">= 1", repeats);
  const size_t elems = size_t(n) * size_t(n);
  std::vector<float> a(elems), b(elems), c(elems);  // [n, n] each, row-major
  Rng rng(12345);
  for (size_t i = 0; i < elems; ++i) {
    a[i] = rng.uniform(-1.f, 1.f);
    b[i] = rng.uniform(-1.f, 1.f);
  }
  const int ni = int(n);
  auto gemm = [&] {
    // C = A·Bᵀ: the same operand order as S = Q·Kᵀ in attention.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, ni, ni, 1.f, a.data(), ni, b.data(),
                ni, 0.f, c.data(), ni);
  };
  openblas_set_num_threads(threads);
  gemm();  // warm-up: thread pool start, page faults
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    Stopwatch sw;
    gemm();
    times.push_back(sw.elapsed_ms());
  }
  openblas_set_num_threads(1);
  // Let the pool's worker threads leave their spin-wait before OpenMP work starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  GemmResult g;
  g.size = n;
  g.threads = threads;
  g.ms = median(times);
  g.best_ms = *std::min_element(times.begin(), times.end());
  const double flops = 2.0 * double(n) * double(n) * double(n);
  g.gflops = flops / (g.ms * 1e6);
  g.best_gflops = flops / (g.best_ms * 1e6);
  g.blas = std::string(openblas_get_config()) + " (core " + openblas_get_corename() + ")";
  return g;
}

}  // namespace longctx::app
