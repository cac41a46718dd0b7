// Public attention API: validates once, then dispatches to a backend.
#include <cmath>

#include "cpu/cpu_attention.hpp"
#ifdef LONGCTX_HAS_CUDA
#include "cuda/cuda_attention.hpp"
#endif
#include "longctx/attention.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "reference/reference.hpp"

namespace longctx {
namespace {

cpu::CpuOptions cpu_options(const AttentionOptions& o) {
  LONGCTX_CHECK_ARG(o.threads >= 0, "threads", ">= 0 (0 = default)", o.threads);
  LONGCTX_CHECK_ARG(o.block_q >= 0 && o.block_q % 8 == 0, "block_q",
                    "0 (automatic) or a positive multiple of 8", o.block_q);
  LONGCTX_CHECK_ARG(o.block_k >= 0 && o.block_k % 8 == 0, "block_k",
                    "0 (automatic) or a positive multiple of 8", o.block_k);
  return cpu::CpuOptions{o.threads, o.block_q, o.block_k};
}

// Stores a row-major float64 array of the logical shape of `dst` into `dst` (any strides/dtype).
void store4(const std::vector<double>& src, const TensorView& dst) {
  const int64_t d0 = dst.dim(0), d1 = dst.dim(1), d2 = dst.dim(2), d3 = dst.dim(3);
  int64_t n = 0;
  for (int64_t a = 0; a < d0; ++a)
    for (int64_t b = 0; b < d1; ++b)
      for (int64_t c = 0; c < d2; ++c)
        for (int64_t e = 0; e < d3; ++e)
          store_from_f32(dst.data, dst.dtype, dst.offset(a, b, c, e), float(src[size_t(n++)]));
}

#ifndef LONGCTX_HAS_CUDA
// Backend::cuda in a build without the CUDA backend.
[[noreturn]] void no_cuda_backend() {
  throw ArgumentError("options.backend", "cpu or reference (this build has no CUDA backend)",
                      "cuda");
}
#endif

// The allocating forms return host tensors, which the CUDA backend cannot fill.
void check_not_cuda(const AttentionOptions& o) {
  LONGCTX_CHECK_ARG(o.backend != Backend::cuda, "options.backend",
                    "cpu or reference for the allocating form (with Backend::cuda pass device "
                    "output buffers)",
                    "cuda");
}

}  // namespace

void attention_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                       const AttentionSpec& spec, const TensorView& out, const TensorView& lse,
                       const AttentionOptions& options) {
  ForwardProblem p = make_forward_problem(q, k, v, spec);
  check_forward_outputs(p, out, lse);
  if (options.backend == Backend::cuda) {
#ifdef LONGCTX_HAS_CUDA
    cuda::forward(p, out, lse);
    return;
#else
    no_cuda_backend();
#endif
  }
  cpu::CpuOptions co = cpu_options(options);
  if (options.backend == Backend::reference) {
    reference::Forward r = reference::forward(p);
    store4(r.out, out);
    float* l = static_cast<float*>(lse.data);
    const int64_t B = p.shape.batch, H = p.shape.heads, N = p.shape.n;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < N; ++i)
          l[b * lse.strides[0] + h * lse.strides[1] + i * lse.strides[2]] =
              float(r.lse[size_t((b * H + h) * N + i)]);
    return;
  }
  cpu::forward(p, out, lse, co);
}

ForwardResult attention_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const AttentionSpec& spec, const AttentionOptions& options) {
  check_not_cuda(options);
  ForwardProblem p = make_forward_problem(q, k, v, spec);
  const AttentionShape& s = p.shape;
  ForwardResult r{Tensor(q.dtype, {s.batch, s.n, s.heads, s.dim_v}),
                  Tensor(DType::f32, {s.batch, s.heads, s.n})};
  attention_forward(q, k, v, spec, r.out, r.lse, options);
  return r;
}

void attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                        const TensorView& out, const TensorView& lse, const TensorView& dout,
                        const AttentionSpec& spec, const TensorView& dq, const TensorView& dk,
                        const TensorView& dv, const AttentionOptions& options) {
  BackwardProblem p = make_backward_problem(q, k, v, out, lse, dout, spec);
  check_backward_outputs(p, dq, dk, dv);
  if (options.backend == Backend::cuda) {
#ifdef LONGCTX_HAS_CUDA
    cuda::backward(p, dq, dk, dv);
    return;
#else
    no_cuda_backend();
#endif
  }
  cpu::CpuOptions co = cpu_options(options);
  if (options.backend == Backend::reference) {
    reference::Backward r = reference::backward(p);
    store4(r.dq, dq);
    store4(r.dk, dk);
    store4(r.dv, dv);
    return;
  }
  cpu::backward(p, dq, dk, dv, co);
}

BackwardResult attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                                  const TensorView& out, const TensorView& lse,
                                  const TensorView& dout, const AttentionSpec& spec,
                                  const AttentionOptions& options) {
  check_not_cuda(options);
  BackwardProblem p = make_backward_problem(q, k, v, out, lse, dout, spec);
  const AttentionShape& s = p.fwd.shape;
  BackwardResult r{Tensor(q.dtype, {s.batch, s.n, s.heads, s.dim}),
                   Tensor(q.dtype, {s.batch, s.m, s.kv_heads, s.dim}),
                   Tensor(q.dtype, {s.batch, s.m, s.kv_heads, s.dim_v})};
  attention_backward(q, k, v, out, lse, dout, spec, r.dq, r.dk, r.dv, options);
  return r;
}

}  // namespace longctx
