// See device_runner.hpp.
#include "device_runner.hpp"

#include <cuda_runtime.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "cuda/cuda_attention.hpp"
#include "cuda/cuda_check.hpp"

namespace longctx::test {
namespace {

// A device copy of a host view: same logical shape and strides, storage spanning the view.
class DeviceCopy {
 public:
  // Allocates room for `t`'s storage span; copies the contents when `upload`, else poisons.
  DeviceCopy(const TensorView& t, bool upload) : host_(t) {
    int64_t span = 1;  // elements from the view's first to last addressed element, + 1
    for (int i = 0; i < t.rank; ++i) span += (t.shape[size_t(i)] - 1) * t.strides[size_t(i)];
    bytes_ = size_t(span) * dtype_size(t.dtype);
    void* p = nullptr;
    LONGCTX_CUDA_CHECK(cudaMalloc(&p, bytes_));
    ptr_.reset(p);
    if (upload)
      LONGCTX_CUDA_CHECK(cudaMemcpy(p, t.data, bytes_, cudaMemcpyHostToDevice));
    else
      LONGCTX_CUDA_CHECK(cudaMemset(p, 0xff, bytes_));  // NaN in bf16, f16 and f32
    view_ = t;
    view_.data = p;
  }
  const TensorView& view() const { return view_; }
  // Copies the device contents back into the host view it was made from.
  void download() const {
    LONGCTX_CUDA_CHECK(cudaDeviceSynchronize());
    LONGCTX_CUDA_CHECK(cudaMemcpy(host_.data, view_.data, bytes_, cudaMemcpyDeviceToHost));
  }

 private:
  struct Free {
    void operator()(void* p) const { (void)cudaFree(p); }
  };
  TensorView host_, view_;
  size_t bytes_ = 0;
  std::unique_ptr<void, Free> ptr_;
};

}  // namespace

bool cuda_device_present() {
  return cuda::device_available();
}

ForwardResult device_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                             const AttentionSpec& spec, const AttentionOptions& options) {
  const int64_t b = q.dim(0), n = q.dim(1), h = q.dim(2), dv = v.dim(3);
  ForwardResult r{Tensor(q.dtype, {b, n, h, dv}), Tensor(DType::f32, {b, h, n})};
  const DeviceCopy dq(q, true), dk(k, true), dvv(v, true), dout(r.out, false), dlse(r.lse, false);
  attention_forward(dq.view(), dk.view(), dvv.view(), spec, dout.view(), dlse.view(), options);
  dout.download();
  dlse.download();
  return r;
}

BackwardResult device_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                               const TensorView& out, const TensorView& lse, const TensorView& dout,
                               const AttentionSpec& spec, const AttentionOptions& options) {
  BackwardResult r{Tensor(q.dtype, {q.dim(0), q.dim(1), q.dim(2), q.dim(3)}),
                   Tensor(q.dtype, {k.dim(0), k.dim(1), k.dim(2), k.dim(3)}),
                   Tensor(q.dtype, {v.dim(0), v.dim(1), v.dim(2), v.dim(3)})};
  const DeviceCopy dq_in(q, true), dk_in(k, true), dv_in(v, true), d_out(out, true),
      d_lse(lse, true), d_dout(dout, true);
  const DeviceCopy g_q(r.dq, false), g_k(r.dk, false), g_v(r.dv, false);
  attention_backward(dq_in.view(), dk_in.view(), dv_in.view(), d_out.view(), d_lse.view(),
                     d_dout.view(), spec, g_q.view(), g_k.view(), g_v.view(), options);
  g_q.download();
  g_k.download();
  g_v.download();
  return r;
}

}  // namespace longctx::test
