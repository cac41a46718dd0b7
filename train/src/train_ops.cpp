// Training's dense operations (see train_ops.hpp).
#include "train_ops.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace longctx::train {

namespace {

// Splits [0, m) into one contiguous slice per thread of the team (rows of 8 for alignment).
template <typename Slice>
void for_row_slices(int64_t m, int64_t work_per_row, Slice slice) {
  const int team = omp_get_max_threads();
  const int64_t parts = work_per_row * m < (int64_t(1) << 15) ? 1 : std::min<int64_t>(team, m);
#pragma omp parallel for schedule(static) num_threads(int(parts)) if (parts > 1)
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t r0 = (m * p / parts) & ~int64_t(7),
                  r1 = p + 1 == parts ? m : (m * (p + 1) / parts) & ~int64_t(7);
    if (r1 > r0) slice(r0, r1 - r0);
  }
}

}  // namespace

void gemm_nt(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
             float beta) {
  for_row_slices(m, n * k, [&](int64_t r0, int64_t rows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(n), int(k), 1.f, a + r0 * k,
                int(k), b, int(k), beta, c + r0 * n, int(n));
  });
}

void gemm_nn(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
             float beta) {
  for_row_slices(m, n * k, [&](int64_t r0, int64_t rows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(n), int(k), 1.f,
                a + r0 * k, int(k), b, int(n), beta, c + r0 * n, int(n));
  });
}

void gemm_tn(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
             float beta) {
  for_row_slices(m, n * k, [&](int64_t r0, int64_t rows) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(rows), int(n), int(k), 1.f, a + r0,
                int(m), b, int(n), beta, c + r0 * n, int(n));
  });
}

void linear_forward(const float* x, int64_t rows, const model::Linear& l, float* y) {
  gemm_nt(x, l.weight.data(), y, rows, l.out, l.in, 0.f);
  if (l.bias.empty()) return;
#pragma omp parallel for schedule(static) if (rows * l.out > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < l.out; ++o) y[r * l.out + o] += l.bias[size_t(o)];
}

void linear_backward(const float* x, const float* dy, int64_t rows, const model::Linear& l,
                     model::Linear& g, float* dx, bool accumulate_dx) {
  // dW [out, in] += dyᵀ [out, rows] · x [rows, in]
  gemm_tn(dy, x, g.weight.data(), l.out, l.in, rows, 1.f);
  if (!g.bias.empty()) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < l.out; ++o) g.bias[size_t(o)] += dy[r * l.out + o];
  }
  if (dx == nullptr) return;
  // dx [rows, in] (+)= dy [rows, out] · W [out, in]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(l.in), int(l.out), 1.f, dy,
              int(l.out), l.weight.data(), int(l.in), accumulate_dx ? 1.f : 0.f, dx, int(l.in));
}

void rms_norm_forward(const float* x, const float* weight, int64_t rows, int64_t dim, double eps,
                      float* y, float* inv_rms) {
#pragma omp parallel for schedule(static) if (rows > 16)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;  // [dim]
    double sq = 0.0;
    for (int64_t i = 0; i < dim; ++i) sq += double(xr[i]) * xr[i];
    const float inv = float(1.0 / std::sqrt(sq / double(dim) + eps));
    inv_rms[r] = inv;
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = (xr[i] * inv) * weight[i];
  }
}

void rms_norm_backward(const float* x, const float* weight, const float* inv_rms, const float* dy,
                       int64_t rows, int64_t dim, float* dx, float* dweight) {
  // y_i = x_i·r·w_i, r = (mean x² + eps)^(−1/2): ∂r/∂x_j = −r³·x_j/dim, so
  // dx_j = r·w_j·dy_j − x_j·r³/dim · Σ_i dy_i·w_i·x_i.
  const int team = omp_get_max_threads();
  std::vector<double> partial(size_t(team * dim), 0.0);  // [threads, dim] dweight partial sums
#pragma omp parallel num_threads(team) if (rows > 16)
  {
    double* dw = partial.data() + int64_t(omp_get_thread_num()) * dim;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* g = dy + r * dim;
      const double inv = inv_rms[r];
      double dot = 0.0;
      for (int64_t i = 0; i < dim; ++i) {
        dot += double(g[i]) * weight[i] * xr[i];
        dw[i] += double(g[i]) * xr[i] * inv;
      }
      const double c = dot * inv * inv * inv / double(dim);
      for (int64_t i = 0; i < dim; ++i)
        dx[r * dim + i] += float(inv * weight[i] * g[i] - c * xr[i]);
    }
  }
  for (int t = 0; t < team; ++t)
    for (int64_t i = 0; i < dim; ++i) dweight[i] += float(partial[size_t(t * dim + i)]);
}

namespace {
float sigmoid(float z) {
  return 1.f / (1.f + std::exp(-z));
}
}  // namespace

void swiglu_forward(const float* gate, const float* up, int64_t count, float* act) {
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) act[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

void swiglu_backward(const float* gate, const float* up, const float* dact, int64_t count,
                     float* dgate, float* dup) {
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const float s = sigmoid(gate[i]), silu = gate[i] * s;
    dup[i] = dact[i] * silu;
    dgate[i] = dact[i] * up[i] * s * (1.f + gate[i] * (1.f - s));  // silu' = s·(1 + g·(1 − s))
  }
}

CrossEntropy cross_entropy(float* logits, const int32_t* targets, const float* weights,
                           int64_t rows, int64_t vocab, double normaliser, bool gradient) {
  CrossEntropy ce;
  double loss = 0.0, wsum = 0.0;
  int64_t correct = 0, counted = 0;
#pragma omp parallel for schedule(static) reduction(+ : loss, wsum, correct, counted) if (rows > 64)
  for (int64_t r = 0; r < rows; ++r) {
    float* z = logits + r * vocab;  // [V]
    const double w = weights[r];
    if (w == 0.0) {
      if (gradient) std::fill(z, z + vocab, 0.f);
      continue;
    }
    const int64_t best = std::max_element(z, z + vocab) - z;
    const float zmax = z[best];
    double sum = 0.0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(double(z[j] - zmax));
    const double lse = double(zmax) + std::log(sum);
    const int32_t t = targets[r];
    loss += w * (lse - double(z[t]));
    wsum += w;
    counted += 1;
    correct += best == t ? 1 : 0;
    if (!gradient) continue;
    const double scale = w / normaliser;
    for (int64_t j = 0; j < vocab; ++j) z[j] = float(std::exp(double(z[j]) - lse) * scale);
    z[t] -= float(scale);
  }
  ce.weighted_loss = loss;
  ce.weight_sum = wsum;
  ce.correct = correct;
  ce.counted = counted;
  return ce;
}

}  // namespace longctx::train
