// DeepSeek Sparse Attention (SPEC §3): attention of each query over the keys its indexer
// selected (longctx/sparse/indexer.hpp), forward and backward, on the CPU.
//
// Shapes as the dense API (longctx/attention.hpp): q [B, N, H, D], k [B, M, G, D],
// v [B, M, G, DV], out [B, N, H, DV], lse [B, H, N] float32 (natural log; −inf and O = 0 for a row
// with no selected key), dout/dq/dk/dv like their tensors. Query head h uses KV head
// g = h / (H/G) and selection group h / (H/S) (S = 1 or G, the selection's `groups`). The spec
// gives the scale (0: 1/sqrt(D)); the selection is trusted to hold visible keys only (the
// indexer guarantees it), so attention runs over exactly the selected set.
//
// Determinism: every output element is written by one task. dK and dV are owned by key: the
// selection is transposed (key → the queries that selected it, in ascending order) and each key
// row sums its contributions in that fixed order, so results do not depend on the thread count.
#pragma once

#include <cstdint>

#include "longctx/attn/mask.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/indexer.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::sparse {

struct DsaOptions {
  int threads = 0;  // 0: OpenMP default
  // Forward cache blocking: keys per sub-range (ranges hold 3); 0: automatic (sub-ranges of
  // ~512 KiB and ranges of ~8 MiB of K and V rows). Small values split every selection (tests).
  int64_t key_range = 0;
};

// Validates q, k, v and the selection (sizes, groups 1 or G, key indices in [0, M)).
void dsa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 const TopkSelection& selection, const AttentionSpec& spec, const TensorView& out,
                 const TensorView& lse, const DsaOptions& options = {});

// Gradients of sum(out · dout) for the attention over the selected keys (the selection is a
// constant). out and lse must come from dsa_forward with the same inputs.
void dsa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const TopkSelection& selection, const AttentionSpec& spec, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const DsaOptions& options = {});

}  // namespace longctx::sparse
