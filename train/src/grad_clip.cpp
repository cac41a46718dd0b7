// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ does it (see adamw.hpp), with
// the sum of squares in float64 over fixed chunks so that the result does not depend on the
// number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/train/adamw.hpp"

namespace longctx::train {
namespace {

// Tensors smaller than this are handled on one thread: the fork costs more than the work.
constexpr int64_t kParallelMin = 1 << 14;

}  // namespace

double clip_grad_norm(model::DecoderWeights& grads, double max_norm) {
  LONGCTX_CHECK_ARG(!std::isnan(max_norm), "max_norm", "a number (<= 0: no clipping)", max_norm);
  const std::vector<model::NamedParameter> list = model::named_parameters(grads);
  // Fixed chunks summed in order: the norm, hence the clipped gradients, do not depend on the
  // thread count or on the order threads finish in.
  constexpr int64_t kChunk = 1 << 12;
  double sum_sq = 0.0;
  std::vector<double> partial;
  for (const model::NamedParameter& p : list) {
    const float* g = p.values->data();  // [n]
    const int64_t n = int64_t(p.values->size());
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    partial.assign(size_t(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
      double s = 0.0;
      for (int64_t j = c * kChunk; j < std::min(n, (c + 1) * kChunk); ++j)
        s += double(g[j]) * double(g[j]);
      partial[size_t(c)] = s;
    }
    for (const double s : partial) sum_sq += s;
  }
  const double norm = std::sqrt(sum_sq);
  if (max_norm <= 0.0 || !std::isfinite(norm)) return norm;
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1.0) return norm;
  const float scale = float(coefficient);
  for (const model::NamedParameter& p : list) {
    float* g = p.values->data();  // [n]
    const int64_t n = int64_t(p.values->size());
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t j = 0; j < n; ++j) g[j] *= scale;
  }
  return norm;
}

}  // namespace longctx::train
