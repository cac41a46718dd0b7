// Tensor views (pointer + dtype + shape + strides, rank <= 4) and an owning Tensor.
// Strides are in elements, so a logical [B, N, H, D] tensor can be stored as [B, H, N, D]
// by permuting strides; kernels never assume a particular physical order.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "longctx/core/dtype.hpp"

namespace longctx {

constexpr int kMaxRank = 4;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  int rank = 0;
  std::array<int64_t, kMaxRank> shape{};    // logical extents
  std::array<int64_t, kMaxRank> strides{};  // in elements

  bool empty() const { return data == nullptr; }
  int64_t numel() const;
  int64_t dim(int i) const { return shape[size_t(i)]; }
  int64_t stride(int i) const { return strides[size_t(i)]; }
  // Offset (in elements) of a rank-4 index.
  int64_t offset(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    return i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3];
  }
  float load(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const {
    return load_as_f32(data, dtype, offset(i0, i1, i2, i3));
  }
  bool is_contiguous() const;
  std::string shape_string() const;  // "[2, 37, 4, 64]"

  // Builds a view with row-major (C order) strides.
  static TensorView contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape);
  // Returns a view whose dims are reordered: result.shape[i] = shape[order[i]].
  TensorView permuted(std::array<int, kMaxRank> order) const;
};

// Owning, 64-byte aligned, row-major tensor.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, std::initializer_list<int64_t> shape);
  Tensor(DType dtype, const std::array<int64_t, kMaxRank>& shape, int rank);

  const TensorView& view() const { return view_; }
  TensorView& view() { return view_; }
  operator const TensorView&() const { return view_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(view_.data);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(view_.data);
  }
  int64_t numel() const { return view_.numel(); }
  int64_t nbytes() const { return numel() * dtype_size(view_.dtype); }
  DType dtype() const { return view_.dtype; }
  int64_t dim(int i) const { return view_.dim(i); }
  // Fills with a bit pattern (e.g. NaN) so that unwritten outputs are caught by tests.
  void poison();
  void zero();

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> storage_;
  TensorView view_;
};

}  // namespace longctx
