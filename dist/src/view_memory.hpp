// Internal: where a schedule's buffers live and how tensor views move in and out of them — host
// memory for the CPU schedules (host_view_memory(), pack.cpp), CUDA device memory for the GPU
// schedules (dist/cuda/). The ring, all-gather and Ulysses code is written once against this and
// runs on either (schedule_memory() picks by backend).
#pragma once

#include <cstdint>
#include <memory>

#include "longctx/attention.hpp"
#include "longctx/core/tensor.hpp"

namespace longctx::dist {

// An owned byte buffer in the memory of a ViewMemory.
class MessageBuffer {
 public:
  virtual ~MessageBuffer() = default;
  virtual char* data() = 0;
};

class ViewMemory {
 public:
  virtual ~ViewMemory() = default;
  virtual std::unique_ptr<MessageBuffer> buffer(int64_t bytes) const = 0;  // contents undefined
  // Views of rank 3 or 4, any strides; buffers hold numel · dtype_size contiguous bytes of the
  // view's dtype.
  virtual void pack(const TensorView& src, char* dst) const = 0;
  virtual void unpack(const char* src, const TensorView& dst) const = 0;
  // dst (any dtype) = src, a contiguous float32 buffer of dst's logical shape.
  virtual void store(const float* src, const TensorView& dst) const = 0;
  // float32 views: dst = value, and dst += src (src contiguous, dst's logical shape).
  virtual void fill(const TensorView& dst, float value) const = 0;
  virtual void add(const float* src, const TensorView& dst) const = 0;
};

const ViewMemory& host_view_memory();
// CUDA device memory, every copy on the legacy default stream (dist/cuda/device_memory.cpp);
// ArgumentError in a build without CUDA.
const ViewMemory& device_view_memory();
// The memory of a backend's schedules: host for cpu, device for cuda.
const ViewMemory& schedule_memory(Backend backend);

}  // namespace longctx::dist
