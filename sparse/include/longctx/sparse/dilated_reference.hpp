// The float64 oracle of a dilated mixture (dilated.hpp), by brute force from the definition:
// merging the patterns by their softmax denominators is one softmax over the multiset of their
// visible keys, so key j enters row i of head h with multiplicity c_ij = the number of patterns
// that see the pair:
//   LSE_i = log Σ_j c_ij e^{S_ij},  O_i = Σ_j c_ij e^{S_ij − LSE_i} v_j,
//   dS_ij = c_ij e^{S_ij − LSE_i} (dO_i·v_j − dO_i·O_i), dQ = scale·dS·K, dK = scale·dSᵀ·Q,
//   dV = Pᵀ·dO with P_ij = c_ij e^{S_ij − LSE_i}; GQA sums dK, dV over the group.
// Rows no pattern covers: O = 0, LSE = −inf, dQ = 0. Same result layouts as the dense oracle
// (attn/reference/reference.hpp); `rows` restricts the forward to those query rows and the
// backward to dQ of those rows, as there. Cost per row: Σ_i w_i / r_i keys, not N.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/sparse/dilated.hpp"
#include "reference/reference.hpp"

namespace longctx::sparse {

reference::Forward dilated_reference_forward(const TensorView& q, const TensorView& k,
                                             const TensorView& v, const DilatedSpec& spec,
                                             const std::vector<int64_t>& rows = {});

reference::Backward dilated_reference_backward(const TensorView& q, const TensorView& k,
                                               const TensorView& v, const TensorView& dout,
                                               const DilatedSpec& spec,
                                               const std::vector<int64_t>& rows = {});

}  // namespace longctx::sparse
