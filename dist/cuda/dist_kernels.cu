// The GPU schedules' small kernels (see dist_kernels.hpp): memory-bound elementwise work beside
// the attention kernels — grid-stride loops over the logical index (views laid out row-major skip
// the index arithmetic), and a warp per row for the merge so that its loads are coalesced.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/cuda_check.hpp"
#include "dist_kernels.hpp"
#include "longctx/core/error.hpp"

namespace longctx::dist::gpu {
namespace {

constexpr int kThreads = 256;

// A view as the kernels see it: up to four dimensions, the missing leading ones of extent 1.
struct View4 {
  void* data;
  DType dtype;
  int64_t shape[4];
  int64_t strides[4];
  int64_t numel;
  bool linear;  // row-major: element i at offset i
};

View4 to_view4(const TensorView& t, const char* arg) {
  LONGCTX_CHECK_ARG(t.rank >= 1 && t.rank <= 4, arg, "a tensor of rank 1 to 4", t.rank);
  LONGCTX_CHECK_ARG(t.dtype == DType::f32 || t.dtype == DType::bf16 || t.dtype == DType::f16, arg,
                    "f32, bf16 or f16", dtype_name(t.dtype));
  View4 v{t.data, t.dtype, {1, 1, 1, 1}, {0, 0, 0, 0}, 1, true};
  const int lead = 4 - t.rank;
  for (int d = 0; d < t.rank; ++d) {
    v.shape[lead + d] = t.dim(d);
    v.strides[lead + d] = t.stride(d);
    v.numel *= t.dim(d);
  }
  int64_t expected = 1;  // the row-major stride of each dimension; extents of 1 do not count
  for (int d = 3; d >= 0; --d) {
    if (v.shape[d] != 1 && v.strides[d] != expected) v.linear = false;
    expected *= v.shape[d];
  }
  return v;
}

__device__ __forceinline__ int64_t element_offset(const View4& v, int64_t i) {
  if (v.linear) return i;
  const int64_t i3 = i % v.shape[3];
  i /= v.shape[3];
  const int64_t i2 = i % v.shape[2];
  i /= v.shape[2];
  const int64_t i1 = i % v.shape[1];
  const int64_t i0 = i / v.shape[1];
  return i0 * v.strides[0] + i1 * v.strides[1] + i2 * v.strides[2] + i3 * v.strides[3];
}

__device__ __forceinline__ float load(const void* p, DType t, int64_t off) {
  if (t == DType::f32) return static_cast<const float*>(p)[off];
  if (t == DType::bf16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[off]);
  return __half2float(static_cast<const __half*>(p)[off]);
}

__device__ __forceinline__ void store(void* p, DType t, int64_t off, float x) {
  if (t == DType::f32)
    static_cast<float*>(p)[off] = x;
  else if (t == DType::bf16)
    static_cast<__nv_bfloat16*>(p)[off] = __float2bfloat16_rn(x);
  else
    static_cast<__half*>(p)[off] = __float2half_rn(x);
}

__global__ void view_copy_kernel(View4 src, View4 dst, bool accumulate) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < dst.numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = element_offset(dst, i);
    float x = load(src.data, src.dtype, element_offset(src, i));
    if (accumulate) x += load(dst.data, dst.dtype, d);
    store(dst.data, dst.dtype, d, x);
  }
}

__global__ void fill_kernel(float* p, int64_t count, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    p[i] = value;
}

// A warp per (b, i, h) row of the partial: B·len·H rows of DV values, lanes along DV.
__global__ void merge_kernel(View4 acc_out, View4 acc_lse, int64_t row_begin, View4 part_out,
                             View4 part_lse) {
  const int64_t B = part_out.shape[0], len = part_out.shape[1], H = part_out.shape[2],
                DV = part_out.shape[3];
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < B * len * H;
       r += warps) {
    const int64_t h = r % H, i = (r / H) % len, b = r / (H * len);
    float* la = static_cast<float*>(acc_lse.data) + b * acc_lse.strides[1] +
                h * acc_lse.strides[2] + (row_begin + i) * acc_lse.strides[3];
    const float lb = static_cast<const float*>(
        part_lse.data)[b * part_lse.strides[1] + h * part_lse.strides[2] + i * part_lse.strides[3]];
    if (lb == -INFINITY) continue;  // an empty partial changes nothing (uniform over the warp)
    const float a = *la;
    const float hi = fmaxf(a, lb), lo = fminf(a, lb);
    const float lse = hi + log1pf(expf(lo - hi));
    const float wa = a == -INFINITY ? 0.f : expf(a - lse), wb = expf(lb - lse);
    const int64_t oa =
        b * acc_out.strides[0] + (row_begin + i) * acc_out.strides[1] + h * acc_out.strides[2];
    const int64_t ob = b * part_out.strides[0] + i * part_out.strides[1] + h * part_out.strides[2];
    float* out = static_cast<float*>(acc_out.data);
    for (int64_t c = lane; c < DV; c += 32) {
      const int64_t o = oa + c * acc_out.strides[3];
      out[o] = out[o] * wa + load(part_out.data, part_out.dtype, ob + c * part_out.strides[3]) * wb;
    }
    __syncwarp();  // every lane has read the old LSE
    if (lane == 0) *la = lse;
  }
}

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

}  // namespace

void view_copy(const TensorView& src, const TensorView& dst, bool accumulate) {
  const View4 s = to_view4(src, "src"), d = to_view4(dst, "dst");
  bool same = true;
  for (int i = 0; i < 4; ++i) same = same && s.shape[i] == d.shape[i];
  LONGCTX_CHECK_ARG(same, "dst", "the shape of src " << src.shape_string(), dst.shape_string());
  if (d.numel == 0) return;
  view_copy_kernel<<<blocks_for(d.numel), kThreads, 0, cudaStreamLegacy>>>(s, d, accumulate);
  LONGCTX_CUDA_CHECK(cudaGetLastError());
}

void fill_f32(float* p, int64_t count, float value) {
  if (count <= 0) return;
  fill_kernel<<<blocks_for(count), kThreads, 0, cudaStreamLegacy>>>(p, count, value);
  LONGCTX_CUDA_CHECK(cudaGetLastError());
}

void merge_partial(const TensorView& acc_out, const TensorView& acc_lse, int64_t row_begin,
                   const TensorView& part_out, const TensorView& part_lse) {
  LONGCTX_CHECK_ARG(acc_out.rank == 4 && part_out.rank == 4 && acc_lse.rank == 3 &&
                        part_lse.rank == 3 && acc_out.dtype == DType::f32 &&
                        acc_lse.dtype == DType::f32 && part_lse.dtype == DType::f32,
                    "acc_out", "[B, n, H, DV] f32 with [B, H, n] f32 LSEs", acc_out.shape_string());
  const View4 ao = to_view4(acc_out, "acc_out"), al = to_view4(acc_lse, "acc_lse"),
              po = to_view4(part_out, "part_out"), pl = to_view4(part_lse, "part_lse");
  const int64_t rows = part_out.dim(0) * part_out.dim(1) * part_out.dim(2);
  if (rows == 0) return;
  merge_kernel<<<blocks_for(rows * 32), kThreads, 0, cudaStreamLegacy>>>(ao, al, row_begin, po, pl);
  LONGCTX_CUDA_CHECK(cudaGetLastError());
}

}  // namespace longctx::dist::gpu
