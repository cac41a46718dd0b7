// Internal: the ring schedule (SPEC §4) over one communicator whose members each hold a row set
// (runs of global positions). Used directly for ring / zigzag / striped, inside each Ulysses
// inner index for USP, and with one member for Ulysses (local attention over the gathered
// sequence). Results are float32 so that USP can exchange them before the final conversion.
#pragma once

#include <vector>

#include "block_attention.hpp"
#include "longctx/dist/communicator.hpp"
#include "longctx/dist/parallel_attention.hpp"

namespace longctx::dist {

struct RingGeometry {
  std::vector<std::vector<Run>> member_runs;  // [R]: rows of each ring member, local order
  int64_t batch = 0, heads = 0, kv_heads = 0, dim = 0, dim_v = 0;
  int64_t rows(int member) const;
};

// Last ring step any member needs (the steps after it would only carry invisible blocks).
int ring_last_step(const RingGeometry& g, const AttentionSpec& spec);

// q [B, n, H, D], k [B, n, G, D], v [B, n, G, DV] of this member (comm.rank()).
// Writes out [B, n, H, DV] f32 and lse [B, H, n] f32 (resized here).
void ring_forward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                  const TensorView& k, const TensorView& v, const AttentionSpec& spec,
                  const AttentionOptions& options, ScratchTensor& out, ScratchTensor& lse,
                  RankStats& stats);

// out, lse: this member's final results; writes dq [B, n, H, D], dk [B, n, G, D],
// dv [B, n, G, DV], all f32 (resized here).
void ring_backward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                   const TensorView& k, const TensorView& v, const TensorView& out,
                   const TensorView& lse, const TensorView& dout, const AttentionSpec& spec,
                   const AttentionOptions& options, ScratchTensor& dq, ScratchTensor& dk,
                   ScratchTensor& dv, RankStats& stats);

}  // namespace longctx::dist
