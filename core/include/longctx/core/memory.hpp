// Memory accounting: the process's resident set (current and peak, from /proc) and the
// bytes of workspace the library itself holds (aligned_alloc through WorkspaceBuffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace longctx {

int64_t current_rss_bytes();
int64_t peak_rss_bytes();  // VmHWM: high-water mark since start (or last reset)
// Resets the kernel's high-water mark (writes 5 to /proc/self/clear_refs); returns false when
// the kernel does not allow it, in which case peak_rss_bytes() keeps counting from start.
bool reset_peak_rss();

// Workspace held by the library (packed tiles, per-thread scratch, partial gradients).
int64_t workspace_bytes_current();
int64_t workspace_bytes_peak();
void workspace_reset_peak();

// 64-byte aligned allocation counted in the workspace statistics.
void* workspace_alloc(size_t bytes);
void workspace_free(void* p, size_t bytes);

// RAII typed workspace buffer (not zero-initialised).
template <typename T>
class WorkspaceBuffer {
 public:
  WorkspaceBuffer() = default;
  explicit WorkspaceBuffer(size_t count)
      : data_(static_cast<T*>(workspace_alloc(count * sizeof(T)))), count_(count) {}
  WorkspaceBuffer(const WorkspaceBuffer&) = delete;
  WorkspaceBuffer& operator=(const WorkspaceBuffer&) = delete;
  WorkspaceBuffer(WorkspaceBuffer&& o) noexcept : data_(o.data_), count_(o.count_) {
    o.data_ = nullptr;
    o.count_ = 0;
  }
  WorkspaceBuffer& operator=(WorkspaceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      count_ = o.count_;
      o.data_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  ~WorkspaceBuffer() { release(); }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  void release() {
    if (data_) workspace_free(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace longctx
