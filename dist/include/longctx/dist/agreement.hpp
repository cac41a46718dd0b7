// Making every rank fail together (used by the schedules and by the CLI for its flags). A rank
// that finds bad input must not throw alone (its peers would wait forever in the next
// collective); instead each rank runs its local
// checks, then all ranks exchange the outcome and, when any rank failed, every rank throws the
// same ArgumentError (the lowest failing rank's, naming that rank).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

// Runs local_checks (which may throw ArgumentError) on every rank; collective.
void agree_or_throw(Communicator& comm, const std::function<void()>& local_checks);

// Named values that must be equal on every rank; rank 0's are broadcast and compared.
using Signature = std::vector<std::pair<std::string, int64_t>>;

// Collective: compares `mine` with rank 0's signature, then runs local_checks; throws
// ArgumentError on every rank when a value differs on some rank or a check failed.
void agree_on(Communicator& comm, const Signature& mine,
              const std::function<void()>& local_checks = {});

}  // namespace longctx::dist
