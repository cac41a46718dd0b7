// Small CUDA kernels of the GPU schedules (dist/cuda/dist_kernels.cu), all on the legacy default
// stream, where the CUDA attention backend runs: copies and sums between tensor views of any
// strides, and the LSE merge of partial attention results (SPEC §1) on the device.
#pragma once

#include <cstdint>

#include "longctx/core/tensor.hpp"

namespace longctx::dist::gpu {

// dst = src (accumulate false) or dst += src, elementwise over the logical shape (rank 1 to 4,
// equal shapes). dtypes f32, bf16 or f16, converted through float (exact between equal 2-byte
// dtypes; round to nearest even into bf16 / f16). Device pointers.
void view_copy(const TensorView& src, const TensorView& dst, bool accumulate);

// p[0, count) = value.
void fill_f32(float* p, int64_t count, float value);

// The running result (acc_out [B, n, H, DV] f32, acc_lse [B, H, n] f32) absorbs the partial
// (part_out [B, len, H, DV] bf16/f16/f32, part_lse [B, H, len] f32) on its rows
// [row_begin, row_begin + len): lse = log(e^lse_a + e^lse_b), O = O_a·e^(lse_a−lse) +
// O_b·e^(lse_b−lse); empty partials (LSE −inf) change nothing. Any strides.
void merge_partial(const TensorView& acc_out, const TensorView& acc_lse, int64_t row_begin,
                   const TensorView& part_out, const TensorView& part_lse);

}  // namespace longctx::dist::gpu
