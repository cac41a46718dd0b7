// Packing views into message buffers (see pack.hpp).
#include "pack.hpp"

#include <cstring>

#include "block_attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "view_memory.hpp"

namespace longctx::dist {
namespace {

template <bool kToBuffer>
void copy(const TensorView& view, char* buffer) {
  LONGCTX_CHECK_ARG(view.rank == 3 || view.rank == 4, "view", "a 3-d or 4-d tensor", view.rank);
  const int64_t d0 = view.dim(0), d1 = view.dim(1), d2 = view.dim(2);
  const int64_t d3 = view.rank == 4 ? view.dim(3) : 1;
  const int64_t s3 = view.rank == 4 ? view.stride(3) : 1;
  const size_t es = size_t(dtype_size(view.dtype));
  char* base = static_cast<char*>(view.data);
  for (int64_t a = 0; a < d0; ++a)
    for (int64_t b = 0; b < d1; ++b)
      for (int64_t c = 0; c < d2; ++c) {
        char* v = base + size_t(a * view.stride(0) + b * view.stride(1) + c * view.stride(2)) * es;
        char* m = buffer + size_t(((a * d1 + b) * d2 + c) * d3) * es;
        if (s3 == 1 || d3 == 1) {
          if (kToBuffer)
            std::memcpy(m, v, size_t(d3) * es);
          else
            std::memcpy(v, m, size_t(d3) * es);
          continue;
        }
        for (int64_t e = 0; e < d3; ++e) {
          if (kToBuffer)
            std::memcpy(m + size_t(e) * es, v + size_t(e * s3) * es, es);
          else
            std::memcpy(v + size_t(e * s3) * es, m + size_t(e) * es, es);
        }
      }
}

}  // namespace

void pack_view(const TensorView& src, char* dst) {
  copy<true>(src, dst);
}
void unpack_view(const char* src, const TensorView& dst) {
  copy<false>(dst, const_cast<char*>(src));
}

namespace {

class HostBuffer : public MessageBuffer {
 public:
  explicit HostBuffer(int64_t bytes) : bytes_(size_t(bytes)) {}
  char* data() override { return bytes_.data(); }

 private:
  WorkspaceBuffer<char> bytes_;  // counted: the schedules report their peak workspace
};

// Visits the elements of a float32 view of rank 3 or 4 in logical (row-major) order. One thread:
// these O(N) passes sit beside O(N²) kernels that already use the rank's threads, and a team of
// their own would oversubscribe ranks that share the cores.
template <typename F>
void for_each_f32(const TensorView& view, F&& f) {
  LONGCTX_CHECK_ARG(view.rank == 3 || view.rank == 4, "view", "a 3-d or 4-d tensor", view.rank);
  float* base = static_cast<float*>(view.data);
  if (view.is_contiguous()) {
    const int64_t n = view.numel();
    for (int64_t i = 0; i < n; ++i) f(base[i], i);
    return;
  }
  const int64_t d3 = view.rank == 4 ? view.dim(3) : 1, s3 = view.rank == 4 ? view.stride(3) : 1;
  int64_t i = 0;
  for (int64_t a = 0; a < view.dim(0); ++a)
    for (int64_t b = 0; b < view.dim(1); ++b)
      for (int64_t c = 0; c < view.dim(2); ++c)
        for (int64_t e = 0; e < d3; ++e)
          f(base[a * view.stride(0) + b * view.stride(1) + c * view.stride(2) + e * s3], i++);
}

class HostViewMemory : public ViewMemory {
 public:
  std::unique_ptr<MessageBuffer> buffer(int64_t bytes) const override {
    return std::make_unique<HostBuffer>(bytes);
  }
  void pack(const TensorView& src, char* dst) const override { pack_view(src, dst); }
  void unpack(const char* src, const TensorView& dst) const override { unpack_view(src, dst); }
  void store(const float* src, const TensorView& dst) const override { copy_f32_to_view(src, dst); }
  void fill(const TensorView& dst, float value) const override {
    for_each_f32(dst, [value](float& x, int64_t) { x = value; });
  }
  void add(const float* src, const TensorView& dst) const override {
    for_each_f32(dst, [src](float& x, int64_t i) { x += src[i]; });
  }
};

}  // namespace

const ViewMemory& host_view_memory() {
  static const HostViewMemory memory;
  return memory;
}

const ViewMemory& schedule_memory(Backend backend) {
  return backend == Backend::cuda ? device_view_memory() : host_view_memory();
}

}  // namespace longctx::dist
