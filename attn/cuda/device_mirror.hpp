// A device copy of a host tensor view: same logical shape and strides, storage spanning the
// view. Used by the CUDA tests and `longctx attn --device cuda` to move host inputs to the device
// and results back. Every CUDA call is checked (CudaError).
#pragma once

#include <cstddef>

#include "longctx/core/tensor.hpp"

namespace longctx::cuda {

class DeviceMirror {
 public:
  DeviceMirror() = default;
  explicit DeviceMirror(const TensorView& host);  // allocates; contents undefined
  DeviceMirror(const DeviceMirror&) = delete;
  DeviceMirror& operator=(const DeviceMirror&) = delete;
  DeviceMirror(DeviceMirror&& o) noexcept { swap(o); }
  DeviceMirror& operator=(DeviceMirror&& o) noexcept {
    swap(o);
    return *this;
  }
  ~DeviceMirror();

  bool empty() const { return device_.data == nullptr; }
  const TensorView& view() const { return device_; }  // the device view
  void upload() const;                                // host -> device
  void download() const;                              // waits for the device, then device -> host
  void poison() const;                                // 0xff bytes: NaN in bf16, f16 and f32

 private:
  void swap(DeviceMirror& o) noexcept;
  TensorView host_, device_;
  size_t bytes_ = 0;
};

}  // namespace longctx::cuda
