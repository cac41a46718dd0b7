// Selection validation, operand packing and row loads/stores shared by the DSA forward and
// backward (dsa_common.hpp).
#include "dsa_common.hpp"

#include <algorithm>
#include <cstring>

#include "longctx/core/error.hpp"
#include "longctx/core/threads.hpp"

namespace longctx::sparse {

void check_selection(const TopkSelection& sel, const AttentionShape& s) {
  LONGCTX_CHECK_ARG(sel.batch == s.batch && sel.rows == s.n, "selection",
                    "a selection for B = " << s.batch << ", N = " << s.n,
                    "B = " << sel.batch << ", N = " << sel.rows);
  LONGCTX_CHECK_ARG(sel.groups == 1 || sel.groups == s.kv_heads, "selection",
                    "1 or G = " << s.kv_heads << " selection groups", sel.groups);
  LONGCTX_CHECK_ARG(sel.k >= 1 &&
                        int64_t(sel.index.size()) == sel.batch * sel.groups * sel.rows * sel.k &&
                        int64_t(sel.count.size()) == sel.batch * sel.groups * sel.rows,
                    "selection", "index [B, S, N, k] and count [B, S, N] with k >= 1",
                    "k = " << sel.k << ", " << sel.index.size() << " indices");
  const int64_t rows = sel.batch * sel.groups * sel.rows;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = sel.count[size_t(r)];
    LONGCTX_CHECK_ARG(c >= 0 && c <= sel.k, "selection", "counts in [0, " << sel.k << "]", c);
    const int32_t* keys = sel.index.data() + r * sel.k;
    for (int64_t i = 0; i < c; ++i)
      LONGCTX_CHECK_ARG(keys[i] >= 0 && keys[i] < s.m, "selection",
                        "key indices in [0, M = " << s.m << ")", keys[i]);
  }
}

void load_row(const TensorView& x, int64_t i0, int64_t i1, int64_t i2, float* dst) {
  const int64_t cols = x.dim(3), base = x.offset(i0, i1, i2, 0);
  if (x.stride(3) == 1) {
    convert_to_f32(static_cast<const char*>(x.data) + base * dtype_size(x.dtype), x.dtype, cols,
                   dst);
    return;
  }
  for (int64_t c = 0; c < cols; ++c) dst[c] = load_as_f32(x.data, x.dtype, base + c * x.stride(3));
}

void store_row(const float* src, const TensorView& x, int64_t i0, int64_t i1, int64_t i2) {
  const int64_t cols = x.dim(3), base = x.offset(i0, i1, i2, 0);
  if (x.stride(3) == 1) {
    convert_from_f32(src, cols, x.dtype, static_cast<char*>(x.data) + base * dtype_size(x.dtype));
    return;
  }
  for (int64_t c = 0; c < cols; ++c)
    store_from_f32(x.data, x.dtype, base + c * x.stride(3), src[c]);
}

PaddedRows pack_padded_rows(const TensorView& x, bool head_major, float scale, int threads,
                            int64_t tail_rows) {
  PaddedRows p;
  p.batch = x.dim(0);
  p.rows = x.dim(1);
  p.heads = x.dim(2);
  p.dpad = padded_dim(x.dim(3));
  p.head_major = head_major;
  const int64_t dim = x.dim(3), total = p.batch * p.rows * p.heads;
  p.data = WorkspaceBuffer<float>(size_t((total + tail_rows) * p.dpad));
  float* data = p.data.data();
  std::fill(data + total * p.dpad, data + (total + tail_rows) * p.dpad, 0.f);
#pragma omp parallel for num_threads(resolve_threads(threads)) schedule(static)
  for (int64_t r = 0; r < total; ++r) {  // r enumerates (b, t, h) in token-major order
    const int64_t b = r / (p.rows * p.heads), t = (r / p.heads) % p.rows, h = r % p.heads;
    const int64_t dst_row = head_major ? (b * p.heads + h) * p.rows + t : r;
    float* dst = data + dst_row * p.dpad;
    load_row(x, b, t, h, dst);
    if (scale != 1.f)
      for (int64_t c = 0; c < dim; ++c) dst[c] *= scale;
    std::fill(dst + dim, dst + p.dpad, 0.f);
  }
  return p;
}

}  // namespace longctx::sparse
