// One DeepSeek Sparse Attention problem set up for measurement: attention inputs as AttnCase
// makes them (random N(0, 1) in the configured dtype and layout), random lightning-indexer
// inputs, and timed calls of the three stages (indexer scores + top-k selection, sparse attention
// forward, backward). Shared by `longctx attn --mask dsa`, `longctx demo` and bench/dsa.
#pragma once

#include <cstdint>
#include <optional>

#include "attn_case.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/dsa.hpp"
#include "longctx/sparse/indexer.hpp"

namespace longctx::app {

struct DsaConfig {
  AttnConfig attn;  // sizes, dtype, layout, threads, seed; the mask is causal
  int64_t top_k = sparse::kDefaultTopK;
  int64_t indexer_heads = 8;
  int64_t indexer_dim = 64;
  int64_t indexer_groups = 1;  // S: 1 (one selection for all heads) or G
  bool quantized = false;      // int8 indexer instead of float32
};

// Validates the DSA fields, naming the CLI flags (--topk, --indexer-heads, --indexer-dim,
// --indexer-groups); throws ArgumentError.
void validate_dsa_config(const DsaConfig& c);

// Timings of one forward: the selection (indexer + top-k) and the sparse attention.
struct DsaForwardTiming {
  double select_ms = 0.0, attention_ms = 0.0;
  sparse::IndexerProfile profile;  // thread-seconds inside the selection
  double total_ms() const { return select_ms + attention_ms; }
};

class DsaCase {
 public:
  explicit DsaCase(const DsaConfig& config);

  const DsaConfig& config() const { return config_; }
  DsaForwardTiming run_forward();
  double run_backward();  // runs a forward first if none has run
  // Recall of the other indexer precision's selection against float32 (the reference): runs
  // one f32 and one int8 selection.
  double quantized_recall();

  const sparse::TopkSelection& selection() const { return selection_; }
  AttentionSpec spec() const { return spec_; }
  // Logical views: q [B,N,H,D], k [B,M,G,D], v [B,M,G,DV], out/dout [B,N,H,DV], lse [B,H,N],
  // dq, dk, dv like q, k, v.
  const TensorView& q() const { return q_.view; }
  const TensorView& k() const { return k_.view; }
  const TensorView& v() const { return v_.view; }
  const TensorView& out() const { return out_.view; }
  const TensorView& lse() const { return lse_.view(); }
  const TensorView& dout() const { return dout_.view; }
  const TensorView& dq() const { return dq_.view; }
  const TensorView& dk() const { return dk_.view; }
  const TensorView& dv() const { return dv_.view; }
  bool has_forward() const { return has_forward_; }
  bool has_backward() const { return !dq_.view.empty(); }
  sparse::IndexerInputs indexer() const { return {iq_.view(), ik_.view(), iw_.view()}; }

 private:
  sparse::TopkSelection select(sparse::IndexerPrecision precision,
                               sparse::IndexerProfile* profile) const;

  DsaConfig config_;
  AttentionSpec spec_;
  LaidTensor q_, k_, v_, out_, dout_, dq_, dk_, dv_;
  Tensor lse_;           // [B, H, N] float32
  Tensor iq_, ik_, iw_;  // indexer: [B, N, S·H_I, d_I], [B, M, S, d_I], [B, N, S, H_I] (f32)
  sparse::TopkSelection selection_;
  bool has_forward_ = false;
};

}  // namespace longctx::app
