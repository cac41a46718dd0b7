// Internal: what the DSA forward and backward share — validation of a selection, packing of
// attention operands into padded float32 rows for the gathered-row kernels, and row stores.
#pragma once

#include <cstdint>

#include "longctx/attn/problem.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::sparse {

// Selection sizes against the attention shape: batch B, rows N, groups 1 or G, every selected
// key in [0, M). Throws ArgumentError "selection".
void check_selection(const TopkSelection& sel, const AttentionShape& shape);

// Selection group used by KV head g: 0 in MQA mode (groups == 1), else g.
inline int64_t selection_group(const TopkSelection& sel, int64_t g) {
  return sel.groups == 1 ? 0 : g;
}

// Rows of a logical [B, rows, heads, dim] tensor as float32 (times `scale`), each padded with
// zeros to `dpad` columns, in one of two orders:
//   head-major  [B][heads][rows][dpad]: the rows of one head contiguous (gathered K, V rows)
//   token-major [B][rows][heads][dpad]: the heads of one token contiguous (Q, dO in backward)
// `tail_rows` extra zero rows at the end let kernels read a padded tile past the last row.
struct PaddedRows {
  WorkspaceBuffer<float> data;
  int64_t batch = 0, rows = 0, heads = 0, dpad = 0;
  bool head_major = true;

  const float* head_rows(int64_t b, int64_t h) const {  // head-major: [rows][dpad]
    return data.data() + (b * heads + h) * rows * dpad;
  }
  const float* token_rows(int64_t b, int64_t t) const {  // token-major: [heads][dpad]
    return data.data() + (b * rows + t) * heads * dpad;
  }
};
PaddedRows pack_padded_rows(const TensorView& x, bool head_major, float scale, int threads,
                            int64_t tail_rows = 0);

// Row dpad of padding for a head dim.
inline int64_t padded_dim(int64_t dim) {
  return (dim + 15) / 16 * 16;
}

// x[i0, i1, i2, :] = src[0, x.dim(3)) converted to x's dtype.
void store_row(const float* src, const TensorView& x, int64_t i0, int64_t i1, int64_t i2);
// x[i0, i1, i2, :] as float32 into dst[0, x.dim(3)).
void load_row(const TensorView& x, int64_t i0, int64_t i1, int64_t i2, float* dst);

// Element (b, h, t) of an lse view [B, H, N] float32.
inline float& lse_at(const TensorView& lse, int64_t b, int64_t h, int64_t t) {
  return static_cast<float*>(lse.data)[b * lse.stride(0) + h * lse.stride(1) + t * lse.stride(2)];
}

}  // namespace longctx::sparse
