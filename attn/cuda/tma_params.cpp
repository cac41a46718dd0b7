// Host side of the TMA descriptors: cuTensorMapEncodeTiled is a driver-API call, reached through
// the runtime's entry-point query so that the library does not link libcuda directly.
#include "cuda/tma_params.hpp"

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>

namespace longctx::cuda {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encode_function() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult status{};
    const cudaError_t err = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000,
                                                             cudaEnableDefault, &status);
    if (err != cudaSuccess || status != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      ptr = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

}  // namespace

bool encode_tma_tensor(TmaTensor& t, const void* base, bool bf16, int64_t batch, int64_t rows,
                       int64_t heads, int head_dim, const int64_t (&stride)[3], int box_rows) {
  const auto encode = encode_function();
  if (!encode) return false;  // a driver without cuTensorMapEncodeTiled
  // Dimensions 1..3 by increasing stride; a dimension of size 1 takes the stride that keeps the
  // order (its coordinate is always 0, so its stride is never used).
  struct Dim {
    int64_t size, stride;
    int which;  // 0 row, 1 head, 2 batch
  };
  std::array<Dim, 3> dims{Dim{rows, stride[1], 0}, Dim{heads, stride[2], 1},
                          Dim{batch, stride[0], 2}};
  std::stable_sort(dims.begin(), dims.end(), [](const Dim& a, const Dim& b) {
    const bool a_unit = a.size == 1, b_unit = b.size == 1;
    if (a_unit != b_unit) return b_unit;  // size-1 dimensions last
    return a.stride < b.stride;
  });
  constexpr int64_t kElem = 2;
  cuuint64_t global_dim[4] = {cuuint64_t(head_dim), 0, 0, 0};
  cuuint64_t global_stride[3];
  cuuint32_t box[4] = {64, 1, 1, 1};
  cuuint32_t element_stride[4] = {1, 1, 1, 1};
  int64_t previous_extent = head_dim * kElem;  // bytes spanned by the lower dimensions
  for (int d = 0; d < 3; ++d) {
    int64_t s = dims[d].stride * kElem;
    if (dims[d].size == 1) s = std::max<int64_t>(16, previous_extent);
    global_dim[d + 1] = cuuint64_t(dims[d].size);
    global_stride[d] = cuuint64_t(s);
    previous_extent = s * dims[d].size;
    const int8_t pos = int8_t(d + 1);
    if (dims[d].which == 0) {
      t.row_dim = pos;
      box[d + 1] = cuuint32_t(box_rows);
    } else if (dims[d].which == 1) {
      t.head_dim = pos;
    } else {
      t.batch_dim = pos;
    }
  }
  const CUresult r =
      encode(&t.map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
             const_cast<void*>(base), global_dim, global_stride, box, element_stride,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS;
}

}  // namespace longctx::cuda
