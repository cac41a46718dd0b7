// Validation of attention calls: every shape, dtype, head dim and spec field is checked here
// once, with errors that name the argument and the expected value.
#include "longctx/attn/problem.hpp"

#include <cmath>

#include "longctx/core/error.hpp"

namespace longctx {
namespace {

void check_tensor(const TensorView& t, const char* name, const char* layout) {
  LONGCTX_CHECK_ARG(t.data != nullptr, name, "a tensor with data", "a null data pointer");
  LONGCTX_CHECK_ARG(t.rank == 4, name, std::string("a 4-d tensor ") + layout,
                    "rank " << t.rank << " " << t.shape_string());
  for (int i = 0; i < 4; ++i)
    LONGCTX_CHECK_ARG(t.shape[size_t(i)] >= 0, name, "non-negative extents", t.shape_string());
  LONGCTX_CHECK_ARG(t.dtype != DType::f64, name, "dtype f32, bf16 or f16", "f64");
}

void check_head_dim(int64_t d, const char* name) {
  LONGCTX_CHECK_ARG(d >= kMinHeadDim && d <= kMaxHeadDim && d % 8 == 0, name,
                    "a head dim that is a multiple of 8 in [32, 256]", d);
}

void check_shape(const TensorView& t, const char* name, std::array<int64_t, 4> expected,
                 const char* layout) {
  bool ok = t.rank == 4;
  for (int i = 0; ok && i < 4; ++i) ok = t.shape[size_t(i)] == expected[size_t(i)];
  LONGCTX_CHECK_ARG(ok, name,
                    std::string("shape ") + layout + " = [" + std::to_string(expected[0]) + ", " +
                        std::to_string(expected[1]) + ", " + std::to_string(expected[2]) + ", " +
                        std::to_string(expected[3]) + "]",
                    t.shape_string());
}

}  // namespace

ForwardProblem make_forward_problem(const TensorView& q, const TensorView& k, const TensorView& v,
                                    const AttentionSpec& spec) {
  check_tensor(q, "q", "[B, N, H, D]");
  check_tensor(k, "k", "[B, M, G, D]");
  check_tensor(v, "v", "[B, M, G, DV]");
  AttentionShape s;
  s.batch = q.dim(0);
  s.n = q.dim(1);
  s.heads = q.dim(2);
  s.dim = q.dim(3);
  s.m = k.dim(1);
  s.kv_heads = k.dim(2);
  s.dim_v = v.dim(3);
  LONGCTX_CHECK_ARG(s.batch >= 1, "q", "batch B >= 1", "B = " << s.batch);
  LONGCTX_CHECK_ARG(s.n >= 1, "q", "sequence length N >= 1", "N = " << s.n);
  LONGCTX_CHECK_ARG(s.m >= 1, "k", "key length M >= 1", "M = " << s.m);
  LONGCTX_CHECK_ARG(s.heads >= 1, "q", "heads H >= 1", "H = " << s.heads);
  LONGCTX_CHECK_ARG(s.kv_heads >= 1, "k", "KV heads G >= 1", "G = " << s.kv_heads);
  LONGCTX_CHECK_ARG(s.heads % s.kv_heads == 0, "k",
                    "KV heads G dividing the query heads H = " << s.heads, "G = " << s.kv_heads);
  check_head_dim(s.dim, "q");
  check_head_dim(s.dim_v, "v");
  check_shape(k, "k", {s.batch, s.m, s.kv_heads, s.dim}, "[B, M, G, D]");
  check_shape(v, "v", {s.batch, s.m, s.kv_heads, s.dim_v}, "[B, M, G, DV]");
  LONGCTX_CHECK_ARG(k.dtype == q.dtype, "k",
                    std::string("the dtype of q (") + std::string(dtype_name(q.dtype)) + ")",
                    dtype_name(k.dtype));
  LONGCTX_CHECK_ARG(v.dtype == q.dtype, "v",
                    std::string("the dtype of q (") + std::string(dtype_name(q.dtype)) + ")",
                    dtype_name(v.dtype));
  LONGCTX_CHECK_ARG(std::isfinite(spec.scale) && spec.scale >= 0.f, "scale",
                    "a finite non-negative softmax scale (0 = 1/sqrt(D))", spec.scale);
  ForwardProblem p;
  p.shape = s;
  p.q = q;
  p.k = k;
  p.v = v;
  p.mask = resolve_mask(spec, s.n, s.m);
  p.scale = spec.scale > 0.f ? spec.scale : float(1.0 / std::sqrt(double(s.dim)));
  return p;
}

void check_forward_outputs(const ForwardProblem& p, const TensorView& out, const TensorView& lse) {
  const AttentionShape& s = p.shape;
  check_tensor(out, "out", "[B, N, H, DV]");
  check_shape(out, "out", {s.batch, s.n, s.heads, s.dim_v}, "[B, N, H, DV]");
  LONGCTX_CHECK_ARG(lse.data != nullptr, "lse", "a tensor with data", "a null data pointer");
  LONGCTX_CHECK_ARG(
      lse.rank == 3 && lse.dim(0) == s.batch && lse.dim(1) == s.heads && lse.dim(2) == s.n, "lse",
      "shape [B, H, N] = [" << s.batch << ", " << s.heads << ", " << s.n << "]",
      lse.shape_string());
  LONGCTX_CHECK_ARG(lse.dtype == DType::f32, "lse", "float32", dtype_name(lse.dtype));
}

BackwardProblem make_backward_problem(const TensorView& q, const TensorView& k, const TensorView& v,
                                      const TensorView& out, const TensorView& lse,
                                      const TensorView& dout, const AttentionSpec& spec) {
  BackwardProblem p;
  p.fwd = make_forward_problem(q, k, v, spec);
  check_forward_outputs(p.fwd, out, lse);
  const AttentionShape& s = p.fwd.shape;
  check_tensor(dout, "dout", "[B, N, H, DV]");
  check_shape(dout, "dout", {s.batch, s.n, s.heads, s.dim_v}, "[B, N, H, DV]");
  p.out = out;
  p.lse = lse;
  p.dout = dout;
  return p;
}

void check_backward_outputs(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
                            const TensorView& dv) {
  const AttentionShape& s = p.fwd.shape;
  check_tensor(dq, "dq", "[B, N, H, D]");
  check_shape(dq, "dq", {s.batch, s.n, s.heads, s.dim}, "[B, N, H, D]");
  check_tensor(dk, "dk", "[B, M, G, D]");
  check_shape(dk, "dk", {s.batch, s.m, s.kv_heads, s.dim}, "[B, M, G, D]");
  check_tensor(dv, "dv", "[B, M, G, DV]");
  check_shape(dv, "dv", {s.batch, s.m, s.kv_heads, s.dim_v}, "[B, M, G, DV]");
}

}  // namespace longctx
