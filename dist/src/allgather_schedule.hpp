// Internal: the all-gather schedule (Llama 3 context parallelism, SPEC §4): all-gather K and V,
// attend the local queries to every rank's block, reduce-scatter the float32 dK, dV. Simple;
// the communication is exposed (nothing overlaps it) and every rank holds all N keys.
#pragma once

#include <vector>

#include "ring_schedule.hpp"

namespace longctx::dist {

void allgather_forward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                       const TensorView& k, const TensorView& v, const AttentionSpec& spec,
                       const AttentionOptions& options, ScratchTensor& out, ScratchTensor& lse,
                       RankStats& stats);

void allgather_backward(Communicator& comm, const RingGeometry& g, const TensorView& q,
                        const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& lse, const TensorView& dout, const AttentionSpec& spec,
                        const AttentionOptions& options, ScratchTensor& dq, ScratchTensor& dk,
                        ScratchTensor& dv, RankStats& stats);

}  // namespace longctx::dist
