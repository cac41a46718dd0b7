// Internal: the gathered-row SIMD kernels of DeepSeek Sparse Attention (dsa_kernels.cpp,
// Highway per-target code chosen at run time). Rows are float32 with a padded length `dpad`
// (a multiple of kColumnPad, zero past the real dim), so no kernel needs a tail.
#pragma once

#include <cstdint>

#include "padding.hpp"

namespace longctx::sparse {

constexpr int64_t kColumnPad = 16;  // row lengths are padded to this
constexpr int64_t kRowTile = 4;     // fixed rows (heads) per register tile; callers pad to it

// out[h·ldo + r] = a[h] · base[idx[r]·stride]  for h < rows_a (a multiple of 4), r < count.
// a: [rows_a][dpad]. Four fixed rows share each gathered row's loads.
void gather_dots(const float* a, int64_t rows_a, int64_t dpad, const float* base, int64_t stride,
                 const int32_t* idx, int64_t count, float* out, int64_t ldo);

// acc[h][0, dpad) += Σ_r w[h·ldw + r] · base[idx[r]·stride]  for h < rows_acc (a multiple of 4).
void gather_accumulate(const float* w, int64_t ldw, int64_t rows_acc, const float* base,
                       int64_t stride, const int32_t* idx, int64_t count, int64_t dpad, float* acc);

// The transpose of the two above for one fixed row (a key) against gathered groups of rows
// (the heads of a query): row (i, h) is base[list[i]·stride + h·dpad], h < heads_pad (a
// multiple of 4; rows past the real heads must be readable, their results are ignored).
//   dots:        out[i·heads_pad + h] = fixed · row(i, h)
//   accumulate:  acc[0, dpad) += Σ_i Σ_h w[i·heads_pad + h] · row(i, h)
void row_dots(const float* fixed, const float* base, int64_t stride, const int32_t* list,
              int64_t count, int64_t heads_pad, int64_t dpad, float* out);
void row_accumulate(const float* w, const float* base, int64_t stride, const int32_t* list,
                    int64_t count, int64_t heads, int64_t heads_pad, int64_t dpad, float* acc);

// x[0, n) = exp(x − shift) in place; returns their sum. x must be padded to kColumnPad floats
// (entries past n are overwritten with scratch).
float exp_shift_sum(float* x, int64_t n, float shift);
// max of x[0, n) (−inf when n = 0); reads x up to n rounded up to kColumnPad.
float max_of(const float* x, int64_t n);

}  // namespace longctx::sparse
