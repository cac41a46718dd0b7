// Bad input to the CUDA backend gets an ArgumentError naming the argument: host pointers,
// unsupported head dims and dtypes, misaligned rows, the allocating API form.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cuda/cuda_check.hpp"
#include "device_runner.hpp"
#include "longctx/attention.hpp"
#include "longctx/core/error.hpp"

namespace longctx::test {
namespace {

// Expects an ArgumentError whose message contains every fragment.
template <typename F>
void expect_argument_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no ArgumentError";
  } catch (const ArgumentError& e) {
    const std::string what = e.what();
    for (const std::string& frag : fragments)
      EXPECT_NE(what.find(frag), std::string::npos) << "message: " << what;
  }
}

AttentionOptions on_cuda() {
  AttentionOptions o;
  o.backend = Backend::cuda;
  return o;
}

// Device memory for a [B, N, H, D] tensor plus `extra_elements`.
struct DeviceTensor {
  DeviceTensor(DType dt, int64_t b, int64_t n, int64_t h, int64_t d, int64_t extra = 0) {
    void* p = nullptr;
    LONGCTX_CUDA_CHECK(cudaMalloc(&p, size_t(b * n * h * d + extra) * dtype_size(dt)));
    mem.reset(p);
    view = TensorView::contiguous(p, dt, {b, n, h, d});
  }
  struct Free {
    void operator()(void* p) const { (void)cudaFree(p); }
  };
  std::unique_ptr<void, Free> mem;
  TensorView view;
};

TEST(CudaErrors, AllocatingFormNeedsDeviceBuffers) {
  Tensor q(DType::bf16, {1, 8, 1, 64}), k(DType::bf16, {1, 8, 1, 64});
  expect_argument_error([&] { (void)attention_forward(q, k, k, AttentionSpec{}, on_cuda()); },
                        {"options.backend", "device output buffers"});
}

TEST(CudaErrors, Float32IsNotSupported) {
  Tensor q(DType::f32, {1, 8, 1, 64}), out(DType::f32, {1, 8, 1, 64}), lse(DType::f32, {1, 1, 8});
  expect_argument_error([&] { attention_forward(q, q, q, AttentionSpec{}, out, lse, on_cuda()); },
                        {"argument 'q'", "bf16 or f16"});
}

TEST(CudaErrors, HostPointersAreRejected) {
  Tensor q(DType::bf16, {1, 8, 1, 64}), out(DType::bf16, {1, 8, 1, 64}), lse(DType::f32, {1, 1, 8});
  expect_argument_error([&] { attention_forward(q, q, q, AttentionSpec{}, out, lse, on_cuda()); },
                        {"argument 'q'", "device memory"});
}

TEST(CudaErrors, UnsupportedHeadDim) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  DeviceTensor q(DType::bf16, 1, 8, 1, 96), out(DType::bf16, 1, 8, 1, 96);
  DeviceTensor lse(DType::f32, 1, 1, 1, 8);
  TensorView lse3 = TensorView::contiguous(lse.view.data, DType::f32, {1, 1, 8});
  expect_argument_error(
      [&] {
        attention_forward(q.view, q.view, q.view, AttentionSpec{}, out.view, lse3, on_cuda());
      },
      {"argument 'q'", "64 or 128", "D = 96"});
}

TEST(CudaErrors, MisalignedRows) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  DeviceTensor q(DType::bf16, 1, 8, 1, 64, 8), out(DType::bf16, 1, 8, 1, 64);
  DeviceTensor lse(DType::f32, 1, 1, 1, 8);
  TensorView lse3 = TensorView::contiguous(lse.view.data, DType::f32, {1, 1, 8});
  TensorView shifted = q.view;
  shifted.data = static_cast<char*>(shifted.data) + 2;  // one bf16 element off
  expect_argument_error(
      [&] {
        attention_forward(shifted, q.view, q.view, AttentionSpec{}, out.view, lse3, on_cuda());
      },
      {"argument 'q'", "16-byte aligned"});
}

TEST(CudaErrors, ValueDimMustEqualHeadDim) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  DeviceTensor q(DType::bf16, 1, 8, 1, 64), v(DType::bf16, 1, 8, 1, 128),
      out(DType::bf16, 1, 8, 1, 128);
  DeviceTensor lse(DType::f32, 1, 1, 1, 8);
  TensorView lse3 = TensorView::contiguous(lse.view.data, DType::f32, {1, 1, 8});
  expect_argument_error(
      [&] {
        attention_forward(q.view, q.view, v.view, AttentionSpec{}, out.view, lse3, on_cuda());
      },
      {"argument 'v'", "DV = D"});
}

}  // namespace
}  // namespace longctx::test
