// The lightning indexer's training loss (SPEC §3, DeepSeek-V3.2-Exp §2):
//
//   L = Σ_{b, s, t} KL(p_t ‖ softmax(I_t))
//
// p_t is the main attention's probability distribution of query t over keys, summed over the
// query heads of selection group s and L1-normalised (each head's row sums to 1, so this is
// their mean); I_t are the indexer scores of t. Dense (warm-up stage): over every visible key.
// Restricted (sparse stage): p and softmax(I) both over the selected keys only. p is a constant
// (the main attention is detached from this loss), so ∂L/∂I(t, s) = softmax(I_t)(s) − p_t(s),
// which flows to w, q_I and k_I through I = Σ_j w·ReLU(q_I·k_I) (ReLU'(0) taken as 0).
//
// Computed in float64 one query row at a time (O(M) memory per row, never N × M), in two
// passes so that no gradient element is written by two threads: rows own dq_I and dw, keys own
// dk_I. Meant for training-size checks and tests; it costs O(N·M·(H·D + H_I·d_I)).
#pragma once

#include <vector>

#include "longctx/attn/mask.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/indexer.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::sparse {

struct IndexerLoss {
  double loss = 0.0;
  std::vector<double> dq;  // [B, N, S·H_I, d_I]  ∂L/∂q_I
  std::vector<double> dk;  // [B, M, S, d_I]      ∂L/∂k_I
  std::vector<double> dw;  // [B, N, S, H_I]      ∂L/∂w
};

// q [B, N, H, D], k [B, M, G, D]: the main attention's inputs (its probabilities define p).
// restrict_to == nullptr: the dense loss over all visible keys; else the loss restricted to the
// selected keys (the selection's groups must equal the indexer's S).
IndexerLoss indexer_kl_loss(const TensorView& q, const TensorView& k, const AttentionSpec& spec,
                            const IndexerInputs& indexer, const TopkSelection* restrict_to,
                            int threads = 0);

}  // namespace longctx::sparse
