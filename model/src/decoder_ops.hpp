// The dense building blocks of the decoder on float32 rows: RMSNorm, linear layers (OpenBLAS
// sgemm, sgemv for one row), SwiGLU's gate. Internal to model/.
#pragma once

#include <cstdint>

#include "longctx/model/weights.hpp"

namespace longctx::model {

// y[t] = x[t] / sqrt(mean(x[t]²) + eps) · weight, rows of `dim` floats. x [rows, dim], y [rows,
// dim].
void rms_norm(const float* x, const float* weight, int64_t rows, int64_t dim, double eps, float* y,
              int threads);
// y [rows, out] = x [rows, in] · Wᵀ (+ bias); accumulate adds into y instead (residuals).
void linear(const float* x, int64_t rows, const Linear& layer, float* y, bool accumulate = false);
// The same with a raw weight matrix W [out, in] (e.g. an LM head tied to the embedding).
void linear(const float* x, int64_t rows, const float* weight, int64_t out, int64_t in,
            const float* bias, float* y, bool accumulate = false);
// gate [rows, n] ← silu(gate) · up, the SwiGLU activation.
void silu_mul(float* gate, const float* up, int64_t count, int threads);

}  // namespace longctx::model
