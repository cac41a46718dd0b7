// One decoder layer's attention during training, forward and backward, over whole sequences
// (a batch of rows, positions 0..T−1 each) with the mechanism the schedule gives the layer:
// dense / window through attn/'s exact kernels, dilated through sparse::dilated_*, dsa and
// topk-exact through sparse::dsa_* over a selection that is a constant of the step. A trained
// DSA indexer learns from the KL loss of sparse/indexer_loss.hpp. Internal to train/.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/model/rope.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::train {

struct AttentionShape {
  int64_t batch = 0, seq = 0;                     // B, T
  int64_t heads = 0, kv_heads = 0, head_dim = 0;  // H, G, D
  int threads = 0;
};

// What the forward keeps for the backward.
struct AttentionSaved {
  std::vector<float> lse;           // [B, H, T]
  sparse::TopkSelection selection;  // dsa, topk-exact
  bool ran_dense = false;           // dsa during the indexer's dense warm-up
};

// q [B, T, H, D], k/v [B, T, G, D] (rotated) → out [B, T, H, D]. dense_dsa: a dsa layer runs
// dense attention (the indexer's warm-up stage). When the layer has a trained indexer, its
// inputs q_I [B, T, H_I, D], k_I [B, T, 1, D] (rotated) and w [B, T, 1, H_I] choose the keys;
// otherwise dsa derives them from q and k as the runtime does.
struct IndexerActivations {
  const float* q = nullptr;  // [B, T, H_I, D]
  const float* k = nullptr;  // [B, T, 1, D]
  const float* w = nullptr;  // [B, T, 1, H_I]
  int64_t heads = 0;         // H_I
};
void train_attention_forward(const model::LayerAttention& attention, const AttentionShape& shape,
                             const float* q, const float* k, const float* v,
                             const IndexerActivations* indexer, bool dense_dsa, float* out,
                             AttentionSaved& saved);

// dout [B, T, H, D] → dq [B, T, H, D], dk/dv [B, T, G, D] (overwritten).
void train_attention_backward(const model::LayerAttention& attention, const AttentionShape& shape,
                              const float* q, const float* k, const float* v, const float* out,
                              const AttentionSaved& saved, const float* dout, float* dq, float* dk,
                              float* dv);

// The indexer's KL loss (SPEC §3) against this layer's attention probabilities and its
// gradients dq_I [B, T, H_I, D], dk_I [B, T, 1, D], dw [B, T, 1, H_I] (overwritten), dense over
// every visible key (warm-up) or restricted to the saved selection. Returns the loss summed
// over the batch's rows.
double indexer_loss_backward(const AttentionShape& shape, const float* q, const float* k,
                             const IndexerActivations& indexer, const AttentionSaved& saved,
                             float* dq_indexer, float* dk_indexer, float* dw_indexer);

}  // namespace longctx::train
