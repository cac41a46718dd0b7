// The in-process communicator: P ranks as P threads of one process, for unit tests of the
// schedules without mpirun. Sends are buffered (they complete at once); receives and
// collectives block until the peers arrive. When a rank throws, every other rank's pending
// wait is aborted with RuntimeError, so a failing test never hangs; a wait that lasts longer
// than the timeout (a schedule bug: unmatched receive) fails the same way.
#pragma once

#include <functional>

#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

struct InProcessOptions {
  double timeout_s = 300.0;  // longest a single wait may block before it fails
};

// Runs body(comm) on `ranks` threads, each with its own communicator of one shared world.
// Rethrows the first exception a rank raised (an ArgumentError in preference to the
// "aborted because another rank failed" errors it causes elsewhere).
void run_in_process(int ranks, const std::function<void(Communicator&)>& body,
                    const InProcessOptions& options = {});

}  // namespace longctx::dist
