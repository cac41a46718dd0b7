// Packing of strided, any-dtype attention operands into contiguous f32 tiles (see pack.hpp).
// These loops are O(rows · dim) per call, against O(rows · M · dim) of kernel work, so they
// favour simplicity: one dtype conversion per row, then a scatter into the target layout.
#include "cpu/pack.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace longctx::cpu {
// Loads x[i0, i1, i2, 0:cols] as f32 into dst[cols]; contiguous rows convert in one call.
void load_row(const TensorView& x, int64_t i0, int64_t i1, int64_t i2, int64_t cols, float* dst) {
  const int64_t base = x.offset(i0, i1, i2, 0);
  if (x.stride(3) == 1) {
    const char* src = static_cast<const char*>(x.data) + base * dtype_size(x.dtype);
    convert_to_f32(src, x.dtype, cols, dst);
    return;
  }
  for (int64_t c = 0; c < cols; ++c) dst[c] = load_as_f32(x.data, x.dtype, base + c * x.stride(3));
}

void pack_key_panels(const TensorView& k, int64_t batch, int64_t kv_head, int64_t begin,
                     int64_t end, float* dst) {
  const int64_t dim = k.dim(3);
  const int64_t keys = end - begin;
  const int64_t panels = (keys + kPanelWidth - 1) / kPanelWidth;
  std::vector<float> row(size_t(dim), 0.f);  // one key, [D]
  for (int64_t p = 0; p < panels; ++p) {
    float* panel = dst + p * dim * kPanelWidth;  // [D][16]
    for (int64_t lane = 0; lane < kPanelWidth; ++lane) {
      const int64_t j = begin + p * kPanelWidth + lane;
      if (j < end) {
        load_row(k, batch, j, kv_head, dim, row.data());
        for (int64_t c = 0; c < dim; ++c) panel[c * kPanelWidth + lane] = row[size_t(c)];
      } else {
        for (int64_t c = 0; c < dim; ++c) panel[c * kPanelWidth + lane] = 0.f;
      }
    }
  }
}

void pack_value_rows(const TensorView& v, int64_t batch, int64_t kv_head, int64_t begin,
                     int64_t end, int64_t dst_stride, float* dst) {
  const int64_t dim_v = v.dim(3);
  for (int64_t j = begin; j < end; ++j) {
    float* row = dst + (j - begin) * dst_stride;  // [dst_stride]
    load_row(v, batch, j, kv_head, dim_v, row);
    std::fill(row + dim_v, row + dst_stride, 0.f);
  }
}

void load_scaled_rows(const TensorView& x, int64_t batch, int64_t head, int64_t begin, int64_t end,
                      float scale, int64_t dst_stride, float* dst) {
  const int64_t cols = x.dim(3);
  for (int64_t i = begin; i < end; ++i) {
    float* row = dst + (i - begin) * dst_stride;  // [cols]
    load_row(x, batch, i, head, cols, row);
    if (scale != 1.f)
      for (int64_t c = 0; c < cols; ++c) row[c] *= scale;
  }
}

void store_row(const float* src, const TensorView& x, int64_t i0, int64_t i1, int64_t i2) {
  const int64_t cols = x.dim(3);
  const int64_t base = x.offset(i0, i1, i2, 0);
  if (x.stride(3) == 1) {
    char* dst = static_cast<char*>(x.data) + base * dtype_size(x.dtype);
    if (x.dtype == DType::f32) {
      std::memcpy(dst, src, size_t(cols) * sizeof(float));
    } else {
      convert_from_f32(src, cols, x.dtype, dst);
    }
    return;
  }
  for (int64_t c = 0; c < cols; ++c)
    store_from_f32(x.data, x.dtype, base + c * x.stride(3), src[c]);
}

}  // namespace longctx::cpu
