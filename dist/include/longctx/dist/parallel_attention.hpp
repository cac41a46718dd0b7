// Exact sequence-parallel attention (SPEC §4): every rank holds its rows of Q, K, V (a
// SequenceLayout) and gets its rows of O, LSE and of dQ, dK, dV — equal to single-process
// attention on the whole sequence up to float32 rounding of the merge order.
//
// Schedules (--parallel names):
//   ring       ring over a contiguous split; KV blocks travel, partials merged (SPEC §1)
//   zigzag     ring over the zigzag layout (balanced causal work; N % 2P == 0)
//   striped    ring over the striped layout (token t on rank t mod P)
//   ulysses    two all-to-alls: sequence-sharded → head-sharded and back (H % P == 0; KV heads
//              split when G % P == 0, replicated when P % G == 0 and their gradients summed)
//   allgather  all-gather K, V; local queries against all keys; reduce-scatter dK, dV
//   usp:UxR    hybrid: Ulysses inside groups of U ranks, ring across the R groups (P = U·R)
// The ring skips (without computing) the steps whose KV block no local query can see — future
// blocks under a causal mask, far blocks under a sliding window — and stops forwarding KV once
// no rank needs more. While one block is computed the next is already being sent and received.
// Backward: KV travels again; dK, dV travel in float32 with their block and arrive home.
//
// Self-attention only (M = N, one layout for queries and keys); masks full / causal / window;
// positions come from the layout (the spec must not set positions or document ids).
// On GPUs (ParallelOptions::backend = cuda) the same schedules run the CUDA kernels per block;
// the next KV block moves on the communicator's stream while the current one computes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "longctx/attention.hpp"
#include "longctx/dist/communicator.hpp"
#include "longctx/dist/layout.hpp"

namespace longctx::dist {

enum class ScheduleKind : uint8_t { ring, allgather };

struct ParallelConfig {
  std::string name = "ring";  // as given: ring | zigzag | striped | ulysses | allgather | usp:UxR
  ScheduleKind schedule = ScheduleKind::ring;
  LayoutKind layout = LayoutKind::contiguous;
  int ulysses = 1;  // U: ranks per Ulysses group
  int ring = 1;     // R: ring length (groups)
  int ranks() const { return ulysses * ring; }
  SequenceLayout make_layout(int64_t n) const { return SequenceLayout(layout, n, ring, ulysses); }
};

// Parses a schedule name for `ranks` processes; ArgumentError naming `argument` otherwise
// (unknown name, U·R != ranks).
ParallelConfig parse_parallel(const std::string& name, int ranks,
                              const std::string& argument = "--parallel");

// What one rank did in one call (or summed over calls).
struct RankStats {
  double total_ms = 0.0;    // wall time of the call
  double compute_ms = 0.0;  // attention kernels and merges
  double comm_ms = 0.0;     // posting transfers, packing, blocking collectives
  double wait_ms = 0.0;     // waiting for transfers that did not finish behind the compute
  int64_t bytes_sent = 0;   // payload bytes this rank sent (communicator.hpp)
  double flops = 0.0;       // counted attention FLOPs of this rank's kernels (SPEC §1)
  int64_t steps_computed = 0, steps_skipped = 0;  // ring steps with / without a kernel call
  int64_t workspace_peak_bytes = 0;  // library workspace high-water mark during the call
  void add(const RankStats& o);
};

struct ParallelOptions {
  int threads = 1;  // kernel threads per rank
  int block_q = 0, block_k = 0;
  // cpu: host tensors, any communicator. cuda: the CUDA kernels per block, LSE merge and
  // gradient sums on the device — every tensor device memory (contiguous, bf16 / f16 with D = DV
  // = 64 or 128, out and dout of q's dtype, lse float32) and a device communicator
  // (device_communicator.hpp). Calls return with the results ready (the device synchronised).
  Backend backend = Backend::cpu;
};

class ParallelAttention {
 public:
  // Collective over comm: checks that every rank passed the same schedule and N (otherwise
  // every rank throws the same ArgumentError), builds the layout and the sub-communicators.
  ParallelAttention(Communicator& comm, const ParallelConfig& config, int64_t n,
                    const ParallelOptions& options = {});
  ~ParallelAttention();

  const SequenceLayout& layout() const { return *layout_; }
  const ParallelConfig& config() const { return config_; }
  int rank() const;

  // Collective. q [B, n_r, H, D], k [B, n_r, G, D], v [B, n_r, G, DV]: this rank's rows
  // (layout().runs(rank())), any strides, one dtype. Writes out [B, n_r, H, DV] (any dtype)
  // and lse [B, H, n_r] float32. Shapes, dtypes and the spec are checked on every rank and
  // compared with rank 0's: a mismatch anywhere makes every rank throw ArgumentError.
  void forward(const TensorView& q, const TensorView& k, const TensorView& v,
               const AttentionSpec& spec, const TensorView& out, const TensorView& lse,
               RankStats* stats = nullptr);
  // Collective. out and lse from forward(); dout like out. Writes dq, dk, dv (any dtype).
  void backward(const TensorView& q, const TensorView& k, const TensorView& v,
                const TensorView& out, const TensorView& lse, const TensorView& dout,
                const AttentionSpec& spec, const TensorView& dq, const TensorView& dk,
                const TensorView& dv, RankStats* stats = nullptr);

 private:
  void finish_stats(RankStats& stats, int64_t bytes_sent) const;
  struct Impl;
  Communicator& comm_;
  ParallelConfig config_;
  ParallelOptions options_;
  std::unique_ptr<SequenceLayout> layout_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace longctx::dist
