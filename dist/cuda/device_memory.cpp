// The GPU schedules' memory (view_memory.hpp's device_view_memory) and the checks and figures of
// device_checks.hpp. Buffers come from the stream-ordered pool on the legacy default stream —
// the stream the CUDA backend computes on — so a buffer freed after its last kernel or transfer
// (transfers are ordered before the legacy stream by the device communicators) is reused safely.
#include <cuda_runtime.h>

#include "cuda/cuda_check.hpp"
#include "device_checks.hpp"
#include "dist_kernels.hpp"
#include "longctx/core/error.hpp"
#include "view_memory.hpp"

namespace longctx::dist {
namespace {

class DeviceBuffer : public MessageBuffer {
 public:
  explicit DeviceBuffer(int64_t bytes) {
    if (bytes > 0) LONGCTX_CUDA_CHECK(cudaMallocAsync(&data_, size_t(bytes), cudaStreamLegacy));
  }
  ~DeviceBuffer() override {
    if (data_) (void)cudaFreeAsync(data_, cudaStreamLegacy);
  }
  char* data() override { return static_cast<char*>(data_); }

 private:
  void* data_ = nullptr;
};

// A contiguous view of `bytes` with t's dtype and logical shape.
TensorView contiguous_like(const TensorView& t, void* data, DType dtype) {
  TensorView c = t;
  c.data = data;
  c.dtype = dtype;
  int64_t stride = 1;
  for (int d = t.rank - 1; d >= 0; --d) {
    c.strides[size_t(d)] = stride;
    stride *= t.dim(d);
  }
  return c;
}

class DeviceViewMemory : public ViewMemory {
 public:
  std::unique_ptr<MessageBuffer> buffer(int64_t bytes) const override {
    return std::make_unique<DeviceBuffer>(bytes);
  }
  void pack(const TensorView& src, char* dst) const override {
    gpu::view_copy(src, contiguous_like(src, dst, src.dtype), false);
  }
  void unpack(const char* src, const TensorView& dst) const override {
    gpu::view_copy(contiguous_like(dst, const_cast<char*>(src), dst.dtype), dst, false);
  }
  void store(const float* src, const TensorView& dst) const override {
    gpu::view_copy(contiguous_like(dst, const_cast<float*>(src), DType::f32), dst, false);
  }
  void fill(const TensorView& dst, float value) const override {
    if (dst.is_contiguous())
      return gpu::fill_f32(static_cast<float*>(dst.data), dst.numel(), value);
    const auto tmp = buffer(dst.numel() * 4);
    gpu::fill_f32(reinterpret_cast<float*>(tmp->data()), dst.numel(), value);
    store(reinterpret_cast<const float*>(tmp->data()), dst);
  }
  void add(const float* src, const TensorView& dst) const override {
    gpu::view_copy(contiguous_like(dst, const_cast<float*>(src), DType::f32), dst, true);
  }
};

bool on_device(const void* p) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) (void)cudaGetLastError();
  return err == cudaSuccess &&
         (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged);
}

}  // namespace

const ViewMemory& device_view_memory() {
  static const DeviceViewMemory memory;
  return memory;
}

void check_device_communicator(const Communicator& comm) {
  LONGCTX_CHECK_ARG(comm.device_buffers(), "comm",
                    "a device communicator (make_nccl_communicator or make_staged_communicator) "
                    "for Backend::cuda",
                    comm.backend_name());
}

void check_device_tensors(std::initializer_list<std::pair<const char*, const TensorView*>> tensors,
                          const TensorView& lse) {
  const DType dtype = tensors.begin()->second->dtype;
  for (const auto& [name, t] : tensors) {
    LONGCTX_CHECK_ARG(t->dtype == DType::bf16 || t->dtype == DType::f16, name,
                      "bf16 or f16 on the CUDA backend", dtype_name(t->dtype));
    LONGCTX_CHECK_ARG(t->dtype == dtype, name, "dtype " << dtype_name(dtype) << " (that of q)",
                      dtype_name(t->dtype));
    LONGCTX_CHECK_ARG(t->dim(3) == 64 || t->dim(3) == 128, name,
                      "head dim 64 or 128 on the CUDA backend", t->dim(3));
    LONGCTX_CHECK_ARG(t->is_contiguous(), name, "a contiguous tensor on the CUDA backend",
                      "strides of " << t->shape_string());
    LONGCTX_CHECK_ARG(on_device(t->data), name, "device memory (cudaMalloc) for Backend::cuda",
                      "host memory");
  }
  LONGCTX_CHECK_ARG(lse.is_contiguous() && on_device(lse.data), "lse",
                    "contiguous float32 device memory for Backend::cuda", "host or strided memory");
}

void synchronize_device() {
  LONGCTX_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
}

int64_t device_memory_peak() {
  int dev = 0;
  LONGCTX_CUDA_CHECK(cudaGetDevice(&dev));
  cudaMemPool_t pool;
  LONGCTX_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t high = 0;
  LONGCTX_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
  return int64_t(high);
}

}  // namespace longctx::dist
