// See device_mirror.hpp.
#include "cuda/device_mirror.hpp"

#include <cuda_runtime.h>

#include <utility>

#include "cuda/cuda_check.hpp"

namespace longctx::cuda {

DeviceMirror::DeviceMirror(const TensorView& host) : host_(host) {
  int64_t span = 1;  // elements from the first to the last addressed element, + 1
  for (int i = 0; i < host.rank; ++i) span += (host.shape[size_t(i)] - 1) * host.strides[size_t(i)];
  bytes_ = size_t(span) * dtype_size(host.dtype);
  void* p = nullptr;
  LONGCTX_CUDA_CHECK(cudaMalloc(&p, bytes_));
  device_ = host;
  device_.data = p;
}

DeviceMirror::~DeviceMirror() {
  if (device_.data) (void)cudaFree(device_.data);
}

void DeviceMirror::swap(DeviceMirror& o) noexcept {
  std::swap(host_, o.host_);
  std::swap(device_, o.device_);
  std::swap(bytes_, o.bytes_);
}

void DeviceMirror::upload() const {
  LONGCTX_CUDA_CHECK(cudaMemcpy(device_.data, host_.data, bytes_, cudaMemcpyHostToDevice));
}

void DeviceMirror::download() const {
  LONGCTX_CUDA_CHECK(cudaDeviceSynchronize());
  LONGCTX_CUDA_CHECK(cudaMemcpy(host_.data, device_.data, bytes_, cudaMemcpyDeviceToHost));
}

void DeviceMirror::poison() const {
  LONGCTX_CUDA_CHECK(cudaMemset(device_.data, 0xff, bytes_));
}

}  // namespace longctx::cuda
