// Packing of attention operands into the f32 layouts the SIMD tile kernels stream.
//
// Inputs are TensorViews of any dtype (f32/bf16/f16) and any strides; the kernels only ever see
// contiguous f32:
//   key panels   K of one (batch, kv head), per key block: ceil(len/16) panels of 16 keys,
//                each [D][16] (key index fastest), zero-padded to 16 keys, so that the
//                S = Q·Kᵀ micro-kernel loads whole vectors of consecutive keys for one d.
//   value rows   V of one (batch, kv head) as [M][dv_stride] with dv_stride = round_up(DV, 16),
//                zero-padded, so that P·V loads whole vectors of one value row.
//   row tiles    rows of Q (or dO, O) of one (batch, head) as [rows][stride], optionally scaled.
#pragma once

#include <cstdint>

#include "longctx/core/tensor.hpp"

namespace longctx::cpu {

// Keys per packed panel: one AVX-512 vector, two AVX2 vectors, four 128-bit vectors.
constexpr int64_t kPanelWidth = 16;

constexpr int64_t round_up(int64_t x, int64_t multiple) {
  return (x + multiple - 1) / multiple * multiple;
}

// Floats one packed key block of `block_k` keys occupies: round_up(block_k, 16) · D.
constexpr int64_t packed_key_block_floats(int64_t block_k, int64_t dim) {
  return round_up(block_k, kPanelWidth) * dim;
}

// Row stride of packed values (and of accumulators over DV): round_up(DV, 16).
constexpr int64_t packed_value_stride(int64_t dim_v) {
  return round_up(dim_v, kPanelWidth);
}

// Packs keys [begin, end) of k [B, M, G, D] at (batch, kv_head) into panels:
// dst [ceil((end-begin)/16)][D][16], padding keys zero.
void pack_key_panels(const TensorView& k, int64_t batch, int64_t kv_head, int64_t begin,
                     int64_t end, float* dst);

// Packs value rows [begin, end) of v [B, M, G, DV] at (batch, kv_head) into
// dst [end-begin][dst_stride] (columns DV..dst_stride zero).
void pack_value_rows(const TensorView& v, int64_t batch, int64_t kv_head, int64_t begin,
                     int64_t end, int64_t dst_stride, float* dst);

// Loads rows [begin, end) of x [B, N, H, C] at (batch, head) as f32 times `scale` into
// dst [end-begin][dst_stride] (columns C..dst_stride untouched).
void load_scaled_rows(const TensorView& x, int64_t batch, int64_t head, int64_t begin, int64_t end,
                      float scale, int64_t dst_stride, float* dst);

// Loads row (i0, i1, i2, 0:cols) of x (any dtype and strides) into dst [cols] as f32.
void load_row(const TensorView& x, int64_t i0, int64_t i1, int64_t i2, int64_t cols, float* dst);

// Stores src [C] (f32) into row (i0, i1, i2, :) of x, converting to x's dtype.
void store_row(const float* src, const TensorView& x, int64_t i0, int64_t i1, int64_t i2);

}  // namespace longctx::cpu
