// See attn_case_device.hpp.
#include "attn_case_device.hpp"

#include <string>

#include "longctx/core/error.hpp"

#ifdef LONGCTX_HAS_CUDA
#include <cuda_runtime.h>

#include "cuda/cuda_attention.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_mirror.hpp"
#endif

namespace longctx::app {

#ifdef LONGCTX_HAS_CUDA

namespace {

// Times one call on the legacy default stream with CUDA events.
template <typename F>
double time_on_device(F&& call) {
  cudaEvent_t start, stop;
  LONGCTX_CUDA_CHECK(cudaEventCreate(&start));
  LONGCTX_CUDA_CHECK(cudaEventCreate(&stop));
  LONGCTX_CUDA_CHECK(cudaEventRecord(start, cudaStreamLegacy));
  call();
  LONGCTX_CUDA_CHECK(cudaEventRecord(stop, cudaStreamLegacy));
  LONGCTX_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.f;
  LONGCTX_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  LONGCTX_CUDA_CHECK(cudaEventDestroy(start));
  LONGCTX_CUDA_CHECK(cudaEventDestroy(stop));
  return double(ms);
}

AttentionOptions cuda_options() {
  AttentionOptions o;
  o.backend = Backend::cuda;
  return o;
}

}  // namespace

class DeviceRun {
 public:
  cuda::DeviceMirror q, k, v, out, lse, dout, dq, dk, dv;
};

void DeviceRunDeleter::operator()(DeviceRun* d) const {
  delete d;
}

DeviceRunPtr make_device_run() {
  LONGCTX_CHECK_ARG(cuda::device_available(), "--device", "cuda with a CUDA device present",
                    cuda::device_description());
  return DeviceRunPtr(new DeviceRun);
}

double device_forward(DeviceRun& d, const TensorView& q, const TensorView& k, const TensorView& v,
                      const AttentionSpec& spec, const TensorView& out, const TensorView& lse) {
  if (d.q.empty()) {
    d.q = cuda::DeviceMirror(q), d.k = cuda::DeviceMirror(k), d.v = cuda::DeviceMirror(v);
    d.out = cuda::DeviceMirror(out), d.lse = cuda::DeviceMirror(lse);
    d.q.upload(), d.k.upload(), d.v.upload();
  }
  const double ms = time_on_device([&] {
    attention_forward(d.q.view(), d.k.view(), d.v.view(), spec, d.out.view(), d.lse.view(),
                      cuda_options());
  });
  d.out.download();
  d.lse.download();
  return ms;
}

double device_backward(DeviceRun& d, const TensorView& dout, const AttentionSpec& spec,
                       const TensorView& dq, const TensorView& dk, const TensorView& dv) {
  if (d.dout.empty()) {
    d.dout = cuda::DeviceMirror(dout), d.dq = cuda::DeviceMirror(dq);
    d.dk = cuda::DeviceMirror(dk), d.dv = cuda::DeviceMirror(dv);
    d.dout.upload();
  }
  const double ms = time_on_device([&] {
    attention_backward(d.q.view(), d.k.view(), d.v.view(), d.out.view(), d.lse.view(),
                       d.dout.view(), spec, d.dq.view(), d.dk.view(), d.dv.view(), cuda_options());
  });
  d.dq.download();
  d.dk.download();
  d.dv.download();
  return ms;
}

std::string device_name() {
  return cuda::device_description();
}

#else  // no CUDA backend in this build

class DeviceRun {};
void DeviceRunDeleter::operator()(DeviceRun* d) const {
  delete d;
}

DeviceRunPtr make_device_run() {
  throw ArgumentError("--device", "cpu (this build has no CUDA backend: configure with nvcc)",
                      "cuda");
}
// Unreachable without a DeviceRun, which make_device_run never returns in this build.
double device_forward(DeviceRun&, const TensorView&, const TensorView&, const TensorView&,
                      const AttentionSpec&, const TensorView&, const TensorView&) {
  return (void)make_device_run(), 0.0;
}
double device_backward(DeviceRun&, const TensorView&, const AttentionSpec&, const TensorView&,
                       const TensorView&, const TensorView&) {
  return (void)make_device_run(), 0.0;
}
std::string device_name() {
  return "no CUDA backend in this build";
}

#endif

}  // namespace longctx::app
