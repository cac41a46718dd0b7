// Internal: buffers of the schedules, allocated through the library's counted workspace so that
// per-rank peak memory (workspace_bytes_peak) includes the KV blocks in flight, the partial
// results and the fp32 gradient accumulators.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "longctx/core/memory.hpp"
#include "longctx/core/tensor.hpp"

namespace longctx::dist {

// A contiguous [d0, d1, ...] tensor in counted workspace memory.
class ScratchTensor {
 public:
  ScratchTensor() = default;
  ScratchTensor(DType dtype, std::initializer_list<int64_t> shape) { reset(dtype, shape); }
  void reset(DType dtype, std::initializer_list<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const size_t bytes = size_t(n) * size_t(dtype_size(dtype));
    if (bytes > buffer_.size()) buffer_ = WorkspaceBuffer<char>(bytes);
    view_ = TensorView::contiguous(buffer_.data(), dtype, shape);
  }
  const TensorView& view() const { return view_; }
  operator const TensorView&() const { return view_; }
  float* f32() const { return static_cast<float*>(view_.data); }
  char* bytes() const { return static_cast<char*>(view_.data); }
  int64_t numel() const { return view_.numel(); }
  void zero() const {
    std::memset(view_.data, 0, size_t(numel()) * size_t(dtype_size(view_.dtype)));
  }

 private:
  WorkspaceBuffer<char> buffer_;
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
