// Internal: a validated attention call, shared by the backends.
#pragma once

#include <cstdint>

#include "longctx/attention.hpp"
#include "longctx/attn/mask.hpp"

namespace longctx {

struct AttentionShape {
  int64_t batch = 0, n = 0, m = 0, heads = 0, kv_heads = 0, dim = 0, dim_v = 0;
  int64_t group() const { return heads / kv_heads; }  // query heads per KV head
};

constexpr int64_t kMinHeadDim = 32;
constexpr int64_t kMaxHeadDim = 256;

struct ForwardProblem {
  AttentionShape shape;
  TensorView q, k, v;  // [B,N,H,D], [B,M,G,D], [B,M,G,DV]
  ResolvedMask mask;
  float scale = 0.f;
};

struct BackwardProblem {
  ForwardProblem fwd;
  TensorView out, lse, dout;  // [B,N,H,DV], [B,H,N] f32, [B,N,H,DV]
};

// Validates shapes, dtypes, head dims and the spec; throws ArgumentError naming the argument.
ForwardProblem make_forward_problem(const TensorView& q, const TensorView& k, const TensorView& v,
                                    const AttentionSpec& spec);
void check_forward_outputs(const ForwardProblem& p, const TensorView& out, const TensorView& lse);
BackwardProblem make_backward_problem(const TensorView& q, const TensorView& k, const TensorView& v,
                                      const TensorView& out, const TensorView& lse,
                                      const TensorView& dout, const AttentionSpec& spec);
void check_backward_outputs(const BackwardProblem& p, const TensorView& dq, const TensorView& dk,
                            const TensorView& dv);

}  // namespace longctx
