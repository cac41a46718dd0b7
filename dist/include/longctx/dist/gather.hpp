// Moving a sharded sequence between ranks: gather every rank's rows onto rank 0 (e.g. to check
// or save results) and scatter a full tensor from rank 0 (e.g. inputs read by one process).
// Rows follow the layout's position maps (layout.hpp); `axis` is the row axis (1 for
// [B, N, H, D], 2 for LSE [B, H, N]). Collective over comm.
#pragma once

#include "longctx/dist/communicator.hpp"
#include "longctx/dist/layout.hpp"

namespace longctx::dist {

// full: the whole tensor on rank 0 (ignored elsewhere); local: this rank's rows.
void gather_to_root(Communicator& comm, const SequenceLayout& layout, const TensorView& local,
                    const TensorView& full, int axis = 1);
void scatter_from_root(Communicator& comm, const SequenceLayout& layout, const TensorView& full,
                       const TensorView& local, int axis = 1);

}  // namespace longctx::dist
