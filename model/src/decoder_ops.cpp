// RMSNorm, linear layers and SwiGLU for the decoder (see decoder_ops.hpp).
#include "decoder_ops.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

namespace longctx::model {
namespace {
int team(int threads) {
  return threads > 0 ? threads : omp_get_max_threads();
}
}  // namespace

void rms_norm(const float* x, const float* weight, int64_t rows, int64_t dim, double eps, float* y,
              int threads) {
#pragma omp parallel for num_threads(team(threads)) if (rows > 4)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
    const float inv = float(1.0 / std::sqrt(ss / double(dim) + eps));
    float* yr = y + r * dim;
    for (int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * inv);
  }
}

void linear(const float* x, int64_t rows, const float* weight, int64_t out, int64_t in,
            const float* bias, float* y, bool accumulate) {
  const float beta = accumulate ? 1.f : 0.f;
  // One OpenMP team splits the output columns and each thread runs single-threaded BLAS on its
  // slice: OpenBLAS's own pthread pool would otherwise spin against the OpenMP threads of the
  // attention kernels (measured: decode steps 2x slower on 2 cores).
  const int team = omp_get_max_threads();
  const int64_t slice = std::max<int64_t>(64, (out + team - 1) / team);
#pragma omp parallel for num_threads(team) schedule(static) if (out * in * rows > (1 << 16))
  for (int64_t o0 = 0; o0 < out; o0 += slice) {
    const int64_t n = std::min(slice, out - o0);
    if (rows == 1) {  // decoding: a matrix-vector product
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(n), int(in), 1.f, weight + o0 * in, int(in), x,
                  1, beta, y + o0, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(n), int(in), 1.f, x,
                  int(in), weight + o0 * in, int(in), beta, y + o0, int(out));
    }
    if (bias)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = o0; o < o0 + n; ++o) y[r * out + o] += bias[o];
  }
}

void linear(const float* x, int64_t rows, const Linear& l, float* y, bool accumulate) {
  linear(x, rows, l.weight.data(), l.out, l.in, l.bias.empty() ? nullptr : l.bias.data(), y,
         accumulate);
}

void silu_mul(float* gate, const float* up, int64_t count, int threads) {
#pragma omp parallel for num_threads(team(threads)) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

}  // namespace longctx::model
