// The dense building blocks of training on float32 rows, forward and backward: matrix products
// for linear layers and their gradients, RMSNorm, SwiGLU and the weighted cross-entropy. Internal
// to train/.
//
// Products split their output rows over one OpenMP team, each thread calling single-threaded
// OpenBLAS on its slice (the caller sets openblas_set_num_threads(1)). Letting OpenBLAS run its
// own thread pool beside OpenMP's spinning workers made a 2-thread step up to 25× slower on a
// busy machine (train_bench: 652 ms against 23 ms single-threaded).
#pragma once

#include <cstdint>

#include "longctx/model/weights.hpp"

namespace longctx::train {

// C [m, n] = A [m, k] · B [n, k]ᵀ + beta·C.
void gemm_nt(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, float beta);
// C [m, n] = A [m, k] · B [k, n] + beta·C.
void gemm_nn(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, float beta);
// C [m, n] = A [k, m]ᵀ · B [k, n] + beta·C (weight gradients: a reduction over k rows).
void gemm_tn(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, float beta);

// y [rows, out] = x [rows, in] · Wᵀ (+ bias).
void linear_forward(const float* x, int64_t rows, const model::Linear& layer, float* y);

// Given dy [rows, out]: grad.weight [out, in] += dyᵀ · x, grad.bias [out] += Σ_rows dy, and
// dx [rows, in] (+)= dy · W (accumulate_dx adds; dx may be null when not needed).
void linear_backward(const float* x, const float* dy, int64_t rows, const model::Linear& layer,
                     model::Linear& grad, float* dx, bool accumulate_dx);

// y = x · inv_rms · weight with inv_rms[r] = 1 / sqrt(mean(x[r]²) + eps). x, y [rows, dim].
void rms_norm_forward(const float* x, const float* weight, int64_t rows, int64_t dim, double eps,
                      float* y, float* inv_rms);

// dx [rows, dim] += ∂/∂x, dweight [dim] += ∂/∂weight of Σ y·dy, from the saved inv_rms [rows].
void rms_norm_backward(const float* x, const float* weight, const float* inv_rms, const float* dy,
                       int64_t rows, int64_t dim, float* dx, float* dweight);

// act [count] = silu(gate) · up.
void swiglu_forward(const float* gate, const float* up, int64_t count, float* act);

// From dact: dgate = dact · up · silu'(gate), dup = dact · silu(gate). All [count].
void swiglu_backward(const float* gate, const float* up, const float* dact, int64_t count,
                     float* dgate, float* dup);

struct CrossEntropy {
  double weighted_loss = 0.0;  // Σ_r w_r · (−log p_r(target_r))
  double weight_sum = 0.0;     // Σ_r w_r
  int64_t correct = 0;         // rows with w_r > 0 whose argmax is the target
  int64_t counted = 0;         // rows with w_r > 0
};

// logits [rows, V] are replaced by ∂(Σ_r w_r·CE_r / normaliser)/∂logits when `gradient`.
// targets [rows] in [0, V); weights [rows] ≥ 0 (rows of weight 0 get zero gradient).
CrossEntropy cross_entropy(float* logits, const int32_t* targets, const float* weights,
                           int64_t rows, int64_t vocab, double normaliser, bool gradient);

}  // namespace longctx::train
