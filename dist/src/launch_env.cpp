// Detecting an mpirun launch from the environment, before (and without) initialising MPI, so
// that `longctx attn` initialises MPI only when it was started by mpirun or asked for --parallel.
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "longctx/dist/mpi_communicator.hpp"

namespace longctx::dist {
namespace {

// The first of these variables that is set, as an integer; -1 when none is.
int env_int(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* value = std::getenv(name);
    if (value && *value) return std::atoi(value);
  }
  return -1;
}

}  // namespace

bool launched_under_mpirun() {
  return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) > 0;
}

int launched_world_size() {
  const int n = env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"});
  return n > 0 ? n : 1;
}

int launched_world_rank() {
  const int r = env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"});
  return r >= 0 ? r : 0;
}

int launched_local_rank() {
  const int r = env_int({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"});
  return r >= 0 ? r : 0;
}

int launched_local_size() {
  const int n = env_int({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
  return n > 0 ? n : launched_world_size();
}

}  // namespace longctx::dist
