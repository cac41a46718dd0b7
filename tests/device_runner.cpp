// See device_runner.hpp.
#include "device_runner.hpp"

#include "cuda/cuda_attention.hpp"
#include "cuda/device_mirror.hpp"

namespace longctx::test {
namespace {

using cuda::DeviceMirror;

DeviceMirror input(const TensorView& host) {
  DeviceMirror d(host);
  d.upload();
  return d;
}

DeviceMirror poisoned_output(const TensorView& host) {
  DeviceMirror d(host);
  d.poison();
  return d;
}

}  // namespace

bool cuda_device_present() {
  return cuda::device_available();
}

ForwardResult device_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                             const AttentionSpec& spec, const AttentionOptions& options) {
  const int64_t b = q.dim(0), n = q.dim(1), h = q.dim(2), dv = v.dim(3);
  ForwardResult r{Tensor(q.dtype, {b, n, h, dv}), Tensor(DType::f32, {b, h, n})};
  const DeviceMirror dq = input(q), dk = input(k), dvv = input(v);
  const DeviceMirror dout = poisoned_output(r.out), dlse = poisoned_output(r.lse);
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
  const DeviceMirror dq_in = input(q), dk_in = input(k), dv_in = input(v), d_out = input(out),
                     d_lse = input(lse), d_dout = input(dout);
  const DeviceMirror g_q = poisoned_output(r.dq), g_k = poisoned_output(r.dk),
                     g_v = poisoned_output(r.dv);
  attention_backward(dq_in.view(), dk_in.view(), dv_in.view(), d_out.view(), d_lse.view(),
                     d_dout.view(), spec, g_q.view(), g_k.view(), g_v.view(), options);
  g_q.download();
  g_k.download();
  g_v.download();
  return r;
}

}  // namespace longctx::test
