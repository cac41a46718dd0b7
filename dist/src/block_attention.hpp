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
#include <functional>
#include <vector>

#include "longctx/attention.hpp"
#include "longctx/dist/layout.hpp"
#include "scratch.hpp"

namespace longctx::dist {

// True when some query of q_runs may see some key of k_runs (conservative: from position
// ranges; false means certainly none).
bool runs_may_see(const std::vector<Run>& q_runs, const std::vector<Run>& k_runs,
                  const AttentionSpec& spec);

// A (query run, key run) pair that some mask lets through, with the spec whose positions make a
// kernel call over the two runs reproduce the global mask (k_index: the key run's index).
struct VisiblePair {
  const Run& q;
  const Run& k;
  size_t k_index;
  const AttentionSpec& spec;
};
// Calls visit for every visible pair, query runs outer, key runs inner (the CPU and CUDA block
// routines share it).
void for_each_visible_pair(const std::vector<Run>& q_runs, const std::vector<Run>& k_runs,
                           const AttentionSpec& spec,
                           const std::function<void(const VisiblePair&)>& visit);
// Counted forward FLOPs of one kernel call (SPEC §1: 2·pairs·H·(D + DV)) over n queries and m
// keys under `pair_spec` (a VisiblePair's spec).
double pair_forward_flops(const AttentionSpec& pair_spec, int64_t batch, int64_t n, int64_t m,
                          int64_t heads, int64_t d, int64_t dv);

// Counted FLOPs (SPEC §1: 2·pairs·H·(D + DV) forward) and whether any kernel ran.
struct BlockCost {
  double flops = 0.0;
  bool computed = false;
};

// One block's work: q [B, n, H, D] (rows in q_runs) against k [B, m, G, D], v [B, m, G, DV]
// (rows in k_runs) under spec, with the kernels options.backend names.
struct BlockInputs {
  TensorView q;
  const std::vector<Run>& q_runs;
  TensorView k, v;
  const std::vector<Run>& k_runs;
  const AttentionSpec& spec;
  const AttentionOptions& options;
};
// What the backward reads of the queries: their final out, lse and the output gradient.
struct QueryResults {
  TensorView out, lse, dout;
};

// The slices one pair's kernel call reads: q (and out, lse, dout of `results` when given) on
// the query run's rows, k and v on the key run's.
struct PairRows {
  TensorView q, k, v, out, lse, dout;
};
PairRows pair_rows(const VisiblePair& pair, const BlockInputs& in,
                   const QueryResults* results = nullptr);

// Forward of a block merged with the tested merge (softmax_state.hpp) into acc_out [B, n, H, DV]
// f32 and acc_lse [B, H, n] f32 (both contiguous; start from 0 and −inf).
BlockCost accumulate_forward(const BlockInputs& in, const TensorView& acc_out,
                             const TensorView& acc_lse, ScratchTensor& tmp_out,
                             ScratchTensor& tmp_lse);

// Backward contribution of the same pairs: adds into dq_acc [B, n, H, D], dk_acc [B, m, G, D],
// dv_acc [B, m, G, DV] (contiguous float32). With dkv_zero (dk_acc, dv_acc hold zeros) the CPU
// kernel writes the first contribution to each key run in place instead of through a scratch
// buffer. Backward FLOPs count 2.5 × forward.
struct BackwardScratch {
  explicit BackwardScratch(const ViewMemory& memory = host_view_memory())
      : dq(memory), dk(memory), dv(memory) {}
  ScratchTensor dq, dk, dv;
};
struct GradientAccumulators {
  TensorView dq, dk, dv;
  bool dkv_zero = false;
};
BlockCost accumulate_backward(const BlockInputs& in, const QueryResults& r,
                              const GradientAccumulators& acc, BackwardScratch& scratch);

// The same two routines with the CUDA kernels (options.backend == Backend::cuda; the two above
// forward to these): device tensors, bf16 / f16 storage; the partials are merged and the
// gradients summed in float32 on the device (dist/cuda/). Without LONGCTX_CUDA they throw
// ArgumentError.
BlockCost cuda_accumulate_forward(const BlockInputs& in, const TensorView& acc_out,
                                  const TensorView& acc_lse, ScratchTensor& tmp_out,
                                  ScratchTensor& tmp_lse);
BlockCost cuda_accumulate_backward(const BlockInputs& in, const QueryResults& r,
                                   const GradientAccumulators& acc, BackwardScratch& scratch);

// Elementwise conversions between a contiguous float32 buffer and a view of any dtype/strides
// of the same logical shape (rank 3 or 4).
void copy_f32_to_view(const float* src, const TensorView& dst);
void copy_view_to_f32(const TensorView& src, float* dst);

}  // namespace longctx::dist
