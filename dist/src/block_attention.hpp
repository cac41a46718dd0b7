// Internal: attention of this rank's queries against one block of keys, as partial results the
// schedules merge. Both sides are row sets described by runs of global positions (layout.hpp);
// every (query run, key run) pair becomes one call of the CPU kernel with the positions that
// reproduce the global mask:
//   stride-1 runs (contiguous, zigzag halves): offsets, so the kernel's per-row interval path and
//     exact block classification apply;
//   equal strides S without a window (striped): positions compressed by S — key j at j, query i at
//     i + ⌊(q₀ − k₀)/S⌋ — which keep k ≤ q exactly (Brandon et al.'s striped causal);
//   anything else: explicit arrays of the global positions.
// Pairs that no mask lets through are skipped without a kernel call.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/attention.hpp"
#include "longctx/dist/layout.hpp"
#include "scratch.hpp"

namespace longctx::dist {

// True when some query of q_runs may see some key of k_runs (conservative: from position
// ranges; false means certainly none).
bool runs_may_see(const std::vector<Run>& q_runs, const std::vector<Run>& k_runs,
                  const AttentionSpec& spec);

// Counted FLOPs (SPEC §1: 2·pairs·H·(D + DV) forward) and whether any kernel ran.
struct BlockCost {
  double flops = 0.0;
  bool computed = false;
};

// Forward of q [B, n, H, D] (rows in q_runs) against k [B, m, G, D], v [B, m, G, DV] (rows in
// k_runs), merged with the tested merge (softmax_state.hpp) into acc_out [B, n, H, DV] f32 and
// acc_lse [B, H, n] f32 (both contiguous; start from 0 and −inf).
BlockCost accumulate_forward(const TensorView& q, const std::vector<Run>& q_runs,
                             const TensorView& k, const TensorView& v,
                             const std::vector<Run>& k_runs, const AttentionSpec& spec,
                             const TensorView& acc_out, const TensorView& acc_lse,
                             const AttentionOptions& options, ScratchTensor& tmp_out,
                             ScratchTensor& tmp_lse);

// Backward contribution of the same pairs, with the final out and lse of the queries: adds into
// dq_acc [B, n, H, D], dk_acc [B, m, G, D], dv_acc [B, m, G, DV] (contiguous float32). With
// dkv_zero (dk_acc, dv_acc hold zeros) the kernel writes the first contribution to each key run
// in place instead of through a scratch buffer.
// Backward FLOPs count 2.5 × forward.
struct BackwardScratch {
  ScratchTensor dq, dk, dv;
};
BlockCost accumulate_backward(const TensorView& q, const std::vector<Run>& q_runs,
                              const TensorView& k, const TensorView& v,
                              const std::vector<Run>& k_runs, const TensorView& out,
                              const TensorView& lse, const TensorView& dout,
                              const AttentionSpec& spec, const TensorView& dq_acc,
                              const TensorView& dk_acc, const TensorView& dv_acc, bool dkv_zero,
                              const AttentionOptions& options, BackwardScratch& scratch);

// Elementwise conversions between a contiguous float32 buffer and a view of any dtype/strides
// of the same logical shape (rank 3 or 4).
void copy_f32_to_view(const float* src, const TensorView& dst);
void copy_view_to_f32(const TensorView& src, float* dst);

}  // namespace longctx::dist
