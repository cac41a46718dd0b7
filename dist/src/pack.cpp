// Packing views into message buffers (see pack.hpp).
#include "pack.hpp"

#include <cstring>

#include "longctx/core/error.hpp"

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

}  // namespace longctx::dist
