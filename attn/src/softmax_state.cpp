// Whole-tensor merge of two partial attention results (see softmax_state.hpp).
#include "longctx/attn/softmax_state.hpp"

#include <vector>

#include "longctx/core/error.hpp"

namespace longctx {
namespace {

void check_pair(const TensorView& out_a, const TensorView& lse_a, const TensorView& out_b,
                const TensorView& lse_b) {
  LONGCTX_CHECK_ARG(out_a.rank == 4, "out_a", "a 4-d tensor [B, N, H, DV]", out_a.shape_string());
  LONGCTX_CHECK_ARG(out_b.rank == 4 && out_b.shape == out_a.shape, "out_b",
                    "the shape of out_a " << out_a.shape_string(), out_b.shape_string());
  const int64_t B = out_a.dim(0), N = out_a.dim(1), H = out_a.dim(2);
  for (const TensorView* l : {&lse_a, &lse_b}) {
    const char* name = l == &lse_a ? "lse_a" : "lse_b";
    LONGCTX_CHECK_ARG(l->rank == 3 && l->dim(0) == B && l->dim(1) == H && l->dim(2) == N, name,
                      "shape [" << B << ", " << H << ", " << N << "]", l->shape_string());
    LONGCTX_CHECK_ARG(l->dtype == DType::f32, name, "float32", dtype_name(l->dtype));
  }
}

}  // namespace

void merge_partials(const TensorView& out_a, const TensorView& lse_a, const TensorView& out_b,
                    const TensorView& lse_b) {
  check_pair(out_a, lse_a, out_b, lse_b);
  const int64_t B = out_a.dim(0), N = out_a.dim(1), H = out_a.dim(2), DV = out_a.dim(3);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> row_a(static_cast<size_t>(DV));  // [DV]
      std::vector<float> row_b(static_cast<size_t>(DV));  // [DV]
      float* la = static_cast<float*>(lse_a.data);
      const float* lb = static_cast<const float*>(lse_b.data);
      for (int64_t i = 0; i < N; ++i) {
        for (int64_t c = 0; c < DV; ++c) {
          row_a[size_t(c)] = out_a.load(b, i, h, c);
          row_b[size_t(c)] = out_b.load(b, i, h, c);
        }
        const int64_t la_off = b * lse_a.strides[0] + h * lse_a.strides[1] + i * lse_a.strides[2];
        const int64_t lb_off = b * lse_b.strides[0] + h * lse_b.strides[1] + i * lse_b.strides[2];
        merge_row(row_a.data(), &la[la_off], row_b.data(), lb[lb_off], DV);
        for (int64_t c = 0; c < DV; ++c)
          store_from_f32(out_a.data, out_a.dtype, out_a.offset(b, i, h, c), row_a[size_t(c)]);
      }
    }
  }
}

}  // namespace longctx
