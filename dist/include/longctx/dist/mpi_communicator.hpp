// The MPI communicator (OpenMPI from Debian; real processes under mpirun). Every MPI call's
// return code is checked (the communicator's error handler is MPI_ERRORS_RETURN) and a failure
// raises RuntimeError "MPI_Isend failed (file:line): <MPI error string>".
//
// Built only with LONGCTX_MPI; without it mpi_available() is false and the functions below
// throw RuntimeError saying so, so callers need no #ifdef.
#pragma once

#include <memory>

#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

// True when this build has the MPI backend.
bool mpi_available();

// True when the process was started by mpirun/mpiexec (OpenMPI, PMI or PMIx environment), even
// before MPI is initialised; launched_world_size() is then the number of ranks (else 1).
bool launched_under_mpirun();
int launched_world_size();
int launched_world_rank();
// Rank among the processes on this node and their number (OMPI_COMM_WORLD_LOCAL_RANK / _SIZE,
// MPI_LOCALRANKID / MPI_LOCALNRANKS, SLURM_LOCALID): 0 and launched_world_size() when unknown.
int launched_local_rank();
int launched_local_size();

// Initialises MPI on construction (unless it already is) and finalises on destruction when it
// did initialise. One per process; hold it for as long as communicators are used.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // A communicator over MPI_COMM_WORLD (a duplicate, with errors returned to the caller).
  std::unique_ptr<Communicator> world() const;
  // Ends every rank's process with `code` (MPI_Abort): for errors after which peers could
  // wait forever.
  [[noreturn]] void abort(int code) const;

 private:
  bool initialised_here_ = false;
};

}  // namespace longctx::dist
