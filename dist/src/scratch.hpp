// Internal: buffers of the schedules. On the host they come from the library's counted workspace
// so that per-rank peak memory (workspace_bytes_peak) includes the KV blocks in flight, the
// partial results and the fp32 gradient accumulators.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "longctx/core/memory.hpp"
#include "longctx/core/tensor.hpp"
#include "view_memory.hpp"

namespace longctx::dist {

// A contiguous [d0, d1, ...] tensor in a schedule's memory (view_memory.hpp): counted host
// workspace by default, device memory for the GPU schedules.
class ScratchTensor {
 public:
  explicit ScratchTensor(const ViewMemory& memory = host_view_memory()) : memory_(&memory) {}
  ScratchTensor(DType dtype, std::initializer_list<int64_t> shape,
                const ViewMemory& memory = host_view_memory())
      : memory_(&memory) {
    reset(dtype, shape);
  }
  void reset(DType dtype, std::initializer_list<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const int64_t bytes = n * dtype_size(dtype);
    if (!buffer_ || bytes > capacity_) {
      buffer_.reset();  // release before allocating: peaks count one buffer, not two
      buffer_ = memory_->buffer(bytes);
      capacity_ = bytes;
    }
    view_ = TensorView::contiguous(buffer_->data(), dtype, shape);
  }
  const TensorView& view() const { return view_; }
  operator const TensorView&() const { return view_; }
  float* f32() const { return static_cast<float*>(view_.data); }
  char* bytes() const { return static_cast<char*>(view_.data); }
  int64_t numel() const { return view_.numel(); }
  void fill(float value) const { memory_->fill(view_, value); }  // float32 tensors
  void zero() const { fill(0.f); }

 private:
  const ViewMemory* memory_;
  std::unique_ptr<MessageBuffer> buffer_;
  int64_t capacity_ = 0;
  TensorView view_;
};

// A [count] byte buffer in counted workspace memory.
using ScratchBytes = WorkspaceBuffer<char>;

// The view of rows [begin, begin + count) along `axis` of t.
inline TensorView slice_rows(const TensorView& t, int axis, int64_t begin, int64_t count) {
  TensorView s = t;
  s.data = static_cast<char*>(t.data) + begin * t.stride(axis) * dtype_size(t.dtype);
  s.shape[size_t(axis)] = count;
  return s;
}

}  // namespace longctx::dist
