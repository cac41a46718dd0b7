// The float64 oracle of DeepSeek Sparse Attention: attention of every query row over exactly the
// keys of a TopkSelection, straight from SPEC §1 (scores, two-pass softmax, gradients), in double.
// Slow and obviously correct; dsa_forward / dsa_backward are tested against it.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/attn/mask.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::sparse::reference {

// Row-major logical order: out [B, N, H, DV], lse [B, H, N] (−inf for rows with no key).
// With `rows` non-empty only those query rows (all batches and heads) are computed; the other
// entries are NaN.
struct DsaForward {
  std::vector<double> out, lse;
};
DsaForward dsa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                       const TopkSelection& selection, const AttentionSpec& spec,
                       const std::vector<int64_t>& rows = {});

// dq [B, N, H, D], dk [B, M, G, D], dv [B, M, G, DV], from the oracle's own forward. With
// `rows` non-empty only dq of those query rows is computed (NaN elsewhere; dk, dv left empty).
struct DsaBackward {
  std::vector<double> dq, dk, dv;
};
DsaBackward dsa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                         const TensorView& dout, const TopkSelection& selection,
                         const AttentionSpec& spec, const std::vector<int64_t>& rows = {});

}  // namespace longctx::sparse::reference
