// TensorView helpers and the owning, aligned Tensor.
#include "longctx/core/tensor.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"

namespace longctx {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[size_t(i)];
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int i = rank - 1; i >= 0; --i) {
    if (shape[size_t(i)] != 1 && strides[size_t(i)] != expected) return false;
    expected *= shape[size_t(i)];
  }
  return true;
}

std::string TensorView::shape_string() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < rank; ++i) os << (i ? ", " : "") << shape[size_t(i)];
  os << ']';
  return os.str();
}

TensorView TensorView::contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape) {
  LONGCTX_CHECK_ARG(shape.size() >= 1 && shape.size() <= kMaxRank, "shape", "rank 1..4",
                    "rank " << shape.size());
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = int(shape.size());
  int i = 0;
  for (int64_t s : shape) v.shape[size_t(i++)] = s;
  int64_t stride = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    v.strides[size_t(d)] = stride;
    stride *= v.shape[size_t(d)];
  }
  return v;
}

TensorView TensorView::permuted(std::array<int, kMaxRank> order) const {
  TensorView v = *this;
  for (int i = 0; i < rank; ++i) {
    LONGCTX_CHECK_ARG(order[size_t(i)] >= 0 && order[size_t(i)] < rank, "order",
                      "a permutation of 0.." << (rank - 1), order[size_t(i)]);
    v.shape[size_t(i)] = shape[size_t(order[size_t(i)])];
    v.strides[size_t(i)] = strides[size_t(order[size_t(i)])];
  }
  return v;
}

void Tensor::Free::operator()(void* p) const {
  std::free(p);
}

Tensor::Tensor(DType dtype, std::initializer_list<int64_t> shape) {
  std::array<int64_t, kMaxRank> s{};
  int i = 0;
  LONGCTX_CHECK_ARG(shape.size() >= 1 && shape.size() <= kMaxRank, "shape", "rank 1..4",
                    "rank " << shape.size());
  for (int64_t x : shape) s[size_t(i++)] = x;
  *this = Tensor(dtype, s, int(shape.size()));
}

Tensor::Tensor(DType dtype, const std::array<int64_t, kMaxRank>& shape, int rank) {
  LONGCTX_CHECK_ARG(rank >= 1 && rank <= kMaxRank, "rank", "1..4", rank);
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    LONGCTX_CHECK_ARG(shape[size_t(i)] >= 0, "shape", "non-negative extents",
                      "extent " << shape[size_t(i)] << " at dim " << i);
    n *= shape[size_t(i)];
  }
  size_t bytes = size_t(n) * size_t(dtype_size(dtype));
  size_t padded = ((bytes + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, padded ? padded : 64);
  if (!p)
    throw RuntimeError("Tensor: out of memory allocating " + std::to_string(bytes) + " bytes");
  storage_.reset(p);
  view_.data = p;
  view_.dtype = dtype;
  view_.rank = rank;
  view_.shape = shape;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    view_.strides[size_t(d)] = stride;
    stride *= shape[size_t(d)];
  }
}

void Tensor::poison() {
  if (!view_.data) return;
  // 0xFF bytes are a NaN in every floating dtype.
  std::memset(view_.data, 0xff, size_t(nbytes()));
}

void Tensor::zero() {
  if (view_.data) std::memset(view_.data, 0, size_t(nbytes()));
}

}  // namespace longctx
